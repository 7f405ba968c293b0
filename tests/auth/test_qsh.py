"""The canonical request and qsh against the Connect conformance vectors."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addon.auth import canonical_request, query_string_hash, request_target
from addon.auth._qsh import sha256_hex

J1 = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEzODY4OTkxMzEsImlzcyI6ImppcmE6MTU0ODk1OTUiLC"
    "Jxc2giOiI4MDYzZmY0Y2ExZTQxZGY3YmM5MGM4YWI2ZDBmNjIwN2Q0OTFjZjZkYWQ3YzY2ZWE3OTdiNDYxNGI3MTky"
    "MmU5IiwiaWF0IjoxMzg2ODk4OTUxfQ.uKqU9dTB6gKwG6jQCuXYAiMNdfNRw98Hw_IWuA5MaMo"
)
J2 = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEzODY5MTEzNTYsImlzcyI6ImppcmE6MTU0ODk1OTUiLC"
    "Jxc2giOiI4MDYzZmY0Y2ExZTQxZGY3YmM5MGM4YWI2ZDBmNjIwN2Q0OTFjZjZkYWQ3YzY2ZWE3OTdiNDYxNGI3MTky"
    "MmU5IiwiaWF0IjoxMzg2OTExMTc2fQ.rAsxpHv0EvpXkhjnZnSV14EXJgDx3KSQjgYRjfKnFt8"
)
HELLO_QUERY = (
    "lic=none&tz=Australia%2FSydney&cp=%2Fjira&user_key=&loc=en-US&user_id=&jwt={jwt}"
    "&xdm_e=http%3A%2F%2Fstorm%3A2990&xdm_c=channel-servlet-hello-world&xdm_p=1"
)
HELLO_CANONICAL = (
    "GET&/hello-world&cp=%2Fjira&lic=none&loc=en-US&tz=Australia%2FSydney&user_id=&user_key="
    "&xdm_c=channel-servlet-hello-world&xdm_e=http%3A%2F%2Fstorm%3A2990&xdm_p=1"
)
T1_CANONICAL = (
    "GET&/path/to/service&first=param&repeated=Parameter%202,parameter%201,parameter%202"
    "&zee_last=param"
)
T1_QSH = "9ae6056cf66c00e76fa15e66fd26091fecd7356eec2f2c30629835b656799f66"

# (method, url as received on the wire, base_url, canonical request, qsh)
VECTORS = [
    # Table A: atlassian-jwt-js test vectors; T1-T8 queries given as raw wire queries.
    pytest.param(
        "get",
        "/path/to/service?zee_last=param&repeated=parameter%201&first=param"
        "&repeated=parameter%202&repeated=Parameter%202",
        "",
        T1_CANONICAL,
        T1_QSH,
        id="T1",
    ),
    pytest.param(
        "get",
        "/path/to/service?zee_last=param&repeated=parameter+1&first=param"
        "&repeated=parameter+2&repeated=Parameter+2",
        "",
        T1_CANONICAL,
        T1_QSH,
        id="T1-plus-as-space",
    ),
    pytest.param(
        "get",
        "/base/path/to/service?zee_last=param&repeated=parameter%201&first=param"
        "&repeated=parameter%202&repeated=Parameter%202",
        "https://bitbucket.org/base",
        T1_CANONICAL,
        T1_QSH,
        id="T2",
    ),
    pytest.param(
        "get",
        "/hello-world?" + HELLO_QUERY.format(jwt=J1),
        "",
        HELLO_CANONICAL,
        "8063ff4ca1e41df7bc90c8ab6d0f6207d491cf6dad7c66ea797b4614b71922e9",
        id="T3",
    ),
    pytest.param(
        "get",
        "/hello-world?a&b=foo&c",
        "",
        "GET&/hello-world&a=&b=foo&c=",
        "05a07346264b590803b827ab297a7fcb7e250fe5fa8c66187a9131b0934496b2",
        id="T4",
    ),
    pytest.param(
        "post",
        "/jira/rest/api/2/project/jira&a=b&c=d?x=y",
        "/jira",
        "POST&/rest/api/2/project/jira%26a=b%26c=d&x=y",
        "70db3b47a62c471526b51481ee17407771df153801674a5002c164e87ce056ae",
        id="T5",
    ),
    pytest.param(
        "get",
        "/jira/rest/api/2/project/jira?x=y",
        "/jira",
        "GET&/rest/api/2/project/jira&x=y",
        "9584d4a30447c0235df4aabcca0512ae8b4a17a47c10cad8ba23a64b40cc6b4c",
        id="T6",
    ),
    pytest.param(
        "post",
        "/rest/api/2/project&a=b?x=y",
        "",
        "POST&/rest/api/2/project%26a=b&x=y",
        "fa48f57a98d3995f12c96664dae66fccc41a5b5dd8305ff6838d04b4b469cb17",
        id="T7",
    ),
    pytest.param(
        "post",
        "/rest/api/2/project&a=b&c=d?x=y",
        "",
        "POST&/rest/api/2/project%26a=b%26c=d&x=y",
        "0d387fa561b533084921196db33213335ba61ca2c78b6690c5811518d035d850",
        id="T8",
    ),
    pytest.param(
        "get",
        "/path",
        "",
        "GET&/path&",
        "799be84a7fa35570087163c0cd9af3abff7ac05c2c12ba0bb1d7eebc984b3ac2",
        id="Q1",
    ),
    pytest.param(
        "get",
        "",
        "",
        "GET&/&",
        "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239",
        id="Q2",
    ),
    pytest.param(
        "get",
        "/",
        "",
        "GET&/&",
        "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239",
        id="Q3",
    ),
    pytest.param(
        "get",
        "/hello-world?" + HELLO_QUERY.format(jwt=J2),
        "",
        HELLO_CANONICAL,
        "8063ff4ca1e41df7bc90c8ab6d0f6207d491cf6dad7c66ea797b4614b71922e9",
        id="Q4",
    ),
    # Q6: a POST whose parameters are in a form body. Bodies are never part of our qsh (our
    # endpoints take JSON), so it hashes as a POST without a query; Q5, which reads the
    # parameters from the body (atlassian-connect-express's checkBodyForParams), does not apply.
    pytest.param(
        "post",
        "/hello-world",
        "",
        "POST&/hello-world&",
        "6f95f3738e1b037a3bebbe0ad237d80fdbc1d5ae452e98ce03a9c004c178ebb4",
        id="Q6",
    ),
    # Table B: the Java normative text's example.
    pytest.param(
        "GET",
        "http://localhost:2990/path/to/service?zee_last=param&repeated=parameter%201"
        "&first=param&repeated=parameter%202",
        "",
        "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param",
        "e52bb281606c3bd9ca16cfe96fe2df78f5d9ffa126f06befd750dfa10fa1a897",
        id="B",
    ),
    # Table C: extra probes.
    pytest.param(
        "GET",
        "/p?a=x*y~z%2Bw&b%20c=it's%20(ok)!",
        "",
        "GET&/p&a=x%2Ay~z%2Bw&b%20c=it%27s%20%28ok%29%21",
        "0482075ffe8c09a5303464e332e3c49c253a20b59fb2cd848eba1170d0d501ab",
        id="C-reserved",
    ),
    pytest.param(
        "GET",
        "/p?a=x+y",
        "",
        "GET&/p&a=x%20y",
        "21d31e46b3ebd23452c406585430505eb7e5ea8f93763b5973215723b99c4b20",
        id="C-plus",
    ),
    pytest.param(
        "GET",
        "/p?q=%C3%A9+%C3%BC%2F%3F",
        "",
        "GET&/p&q=%C3%A9%20%C3%BC%2F%3F",
        "9e2d3a5cae0196dda4313f696d20d42d2adc7c4066ceebbebd290f7f816fead6",
        id="C-utf8",
    ),
    pytest.param(
        "PUT",
        "/p/q/",
        "",
        "PUT&/p/q&",
        "27f004ed396e636c665c1e927e031883cf1af06efe8ba6453cea571e35f79d76",
        id="C-trailing-slash",
    ),
    pytest.param(
        "GET",
        "/p?k=b&k=B&k=a+b&k=a%2Bb&k=%C3%A9&k=z",
        "",
        "GET&/p&k=B,a%20b,a%2Bb,b,z,%C3%A9",
        "fe849bef9d2d0e4bd1febb40cfc51aaff821c1d275ccfbce17450aa627862a0d",
        id="C-repeated",
    ),
    pytest.param(
        "POST",
        "/installed",
        "",
        "POST&/installed&",
        "4a2e1de8ca74e6cafe8862d332fa3ac7a8e51e692bc6d798ea4dfedc14948bf4",
        id="C-installed",
    ),
    pytest.param(
        "POST",
        "/uninstalled",
        "",
        "POST&/uninstalled&",
        "8a8d06f040b246544d605b08aeb419e30b5cf0e200f512888486585ecce6a52e",
        id="C-uninstalled",
    ),
    pytest.param(
        "POST",
        "/test-hook?user_id=admin",
        "",
        "POST&/test-hook&user_id=admin",
        "aadb9de9eddb2ee4c59c557d2bb40d35084639edd8a74511143442566f04cb7b",
        id="C-webhook",
    ),
    # Section 2.3: keys sorted by their percent-encoded names, as Java (and Jira) does.
    pytest.param(
        "GET",
        "/p?a9=1&a%3A=2&aa=3&a%C3%A9=4",
        "",
        "GET&/p&a%3A=2&a%C3%A9=4&a9=1&aa=3",
        "0f542eafc0bf7edba2bd26691aa9fb81852e5d1fd96dcb80a4104d03fbc56d29",
        id="java-key-order",
    ),
]


@pytest.mark.parametrize(("method", "url", "base_url", "canonical", "qsh"), VECTORS)
def test_conformance_vector(method: str, url: str, base_url: str, canonical: str, qsh: str) -> None:
    assert canonical_request(method, url, base_url) == canonical
    assert query_string_hash(method, url, base_url) == qsh


def test_sha256_of_foo() -> None:
    assert sha256_hex("foo") == "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"


def test_t7_path_ampersand_differs_from_query() -> None:
    in_path = query_string_hash("POST", "/rest/api/2/project&a=b?x=y")
    in_query = query_string_hash("POST", "/rest/api/2/project?a=b&x=y")
    assert canonical_request("POST", "/rest/api/2/project?a=b&x=y") == (
        "POST&/rest/api/2/project&a=b&x=y"
    )
    assert in_query.startswith("31c3d042") and in_query.endswith("9b32c")
    assert in_path != in_query


def test_one_trailing_slash_is_removed_like_js_and_java() -> None:
    assert canonical_request("GET", "/a%20b/c%2Fd//") == "GET&/a%20b/c%2Fd/&"
    qsh = query_string_hash("GET", "/a%20b/c%2Fd//")
    assert qsh.startswith("67e9a212") and qsh.endswith("18190")
    assert canonical_request("GET", "//") == "GET&/&"


def test_path_is_kept_raw() -> None:
    assert canonical_request("GET", "/a%2fb/%7Ec/é") == "GET&/a%2fb/%7Ec/é&"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/jira", "/"),
        ("/jira/", "/"),
        ("/jira/x", "/x"),
        ("/jira/x/y/", "/x/y"),
        ("/jiraffe", "/jiraffe"),
        ("/jiraffe/x", "/jiraffe/x"),
        ("/other/jira/x", "/other/jira/x"),
        ("/x", "/x"),
        ("https://example.com/jira/x?", "/x"),
    ],
)
@pytest.mark.parametrize(
    "base_url",
    ["/jira", "/jira/", "jira", "https://example.com/jira", "https://example.com:8443/jira/"],
)
def test_base_path_is_removed_segment_by_segment(url: str, path: str, base_url: str) -> None:
    assert canonical_request("GET", url, base_url) == f"GET&{path}&"


@pytest.mark.parametrize("base_url", ["", "/", "https://example.com", "https://example.com/"])
def test_base_url_without_a_path_removes_nothing(base_url: str) -> None:
    assert canonical_request("GET", "/jira/x", base_url) == "GET&/jira/x&"


def test_absolute_url_drops_scheme_host_and_port() -> None:
    assert canonical_request("get", "https://user@example.com:8443/a/b/?x=1") == "GET&/a/b&x=1"
    assert canonical_request("get", "https://example.com") == "GET&/&"
    assert canonical_request("get", "https://example.com?x=1") == "GET&/&x=1"


def test_double_slash_path_is_a_path_not_an_authority() -> None:
    assert canonical_request("GET", "//evil.example/x") == "GET&//evil.example/x&"


def test_relative_path_gets_a_leading_slash() -> None:
    assert canonical_request("GET", "installed") == "GET&/installed&"


def test_only_the_exact_jwt_parameter_is_dropped() -> None:
    assert canonical_request("GET", "/p?jwt=a&JWT=b&jwtx=c") == "GET&/p&JWT=b&jwtx=c"
    assert canonical_request("GET", "/p?jw%74=a&x=1") == "GET&/p&x=1"
    assert canonical_request("GET", "/p?jwt=a&jwt=b") == "GET&/p&"


def test_names_that_decode_alike_are_one_parameter() -> None:
    assert canonical_request("GET", "/p?a+b=1&a%20b=2") == "GET&/p&a%20b=1,2"


def test_repeated_values_sort_by_utf16_code_units_like_java() -> None:
    # U+1F600 is the surrogate pair D83D DE00, which sorts before U+FF21 in UTF-16.
    url = "/p?k=%EF%BC%A1&k=%F0%9F%98%80"
    assert canonical_request("GET", url) == "GET&/p&k=%F0%9F%98%80,%EF%BC%A1"


def test_blank_and_valueless_parameters() -> None:
    assert canonical_request("GET", "/p?a=&b&&=c") == "GET&/p&=c&a=&b="


def test_hash_is_data_not_a_fragment() -> None:
    assert canonical_request("GET", "/p?a=1#b=2") == "GET&/p&a=1%23b%3D2"
    assert canonical_request("GET", "/p?a=1") != canonical_request("GET", "/p?a=1#b=2")


@pytest.mark.parametrize(
    ("query", "canonical_query"),
    [
        ("a=%zz", "a=%25zz"),
        ("a=%", "a=%25"),
        ("a=%F", "a=%25F"),
        ("a=%FF", "a=%FF"),
        ("a=%C3", "a=%C3"),
        ("a=%FF&a=%FE", "a=%FE,%FF"),
        ("%FF=1", "%FF=1"),
    ],
)
def test_invalid_percent_encodings_do_not_crash(query: str, canonical_query: str) -> None:
    assert canonical_request("GET", f"/p?{query}") == f"GET&/p&{canonical_query}"


def test_method_is_upper_cased() -> None:
    assert canonical_request("post", "/x").startswith("POST&")


def test_request_target_from_asgi_scope_parts() -> None:
    assert request_target(b"/a%20b", b"x=1&jwt=t") == "/a%20b?x=1&jwt=t"
    assert request_target(b"/a", b"") == "/a"
    assert request_target("/a", "x=1") == "/a?x=1"


def test_request_target_keeps_raw_bytes() -> None:
    url = request_target(b"/caf\xc3\xa9/\xff", b"q=caf\xc3\xa9&r=\xff")
    assert canonical_request("GET", url) == "GET&/café/\udcff&q=caf%C3%A9&r=%FF"
    expected = hashlib.sha256(b"GET&/caf\xc3\xa9/\xff&q=caf%C3%A9&r=%FF").hexdigest()
    assert query_string_hash("GET", url) == expected


URLISH = st.text(alphabet=st.sampled_from("/?&=%+#;:.~-_aAzZ09é \x00\ud800\udcff"), max_size=40)


@given(method=st.text(max_size=8), url=st.text(), base_url=st.text())
def test_canonical_request_never_raises_on_any_text(method: str, url: str, base_url: str) -> None:
    canonical = canonical_request(method, url, base_url)
    assert canonical == canonical_request(method, url, base_url)
    assert len(query_string_hash(method, url, base_url)) == 64


@given(url=URLISH, base_url=URLISH)
def test_canonical_request_never_raises_on_url_like_text(url: str, base_url: str) -> None:
    assert canonical_request("GET", url, base_url).count("&") >= 2
    assert len(query_string_hash("GET", url, base_url)) == 64


@given(raw_path=st.binary(max_size=40), query=st.binary(max_size=40))
def test_canonical_request_never_raises_on_any_bytes(raw_path: bytes, query: bytes) -> None:
    url = request_target(raw_path, query)
    assert canonical_request("GET", url) == canonical_request("GET", url)
    assert len(query_string_hash("GET", url)) == 64


PATH = st.text(alphabet=st.sampled_from("/&%+;:.~-_aZ09é "), max_size=20)
QUERY = st.text(alphabet=st.sampled_from("&=%+;:.~-_aZ09é /?"), max_size=30)


@given(
    path=PATH,
    query=QUERY,
    token=st.text(alphabet=st.sampled_from("&=%+.-_aZ09é /?"), max_size=30),
    seed=st.integers(0, 1000),
)
def test_the_jwt_parameter_never_affects_the_canonical_request(
    path: str, query: str, token: str, seed: int
) -> None:
    fields = query.split("&") if query else []
    encoded = token.replace("%", "%25").replace("&", "%26").replace("+", "%2B")
    fields.insert(random.Random(seed).randint(0, len(fields)), f"jwt={encoded}")
    with_jwt = f"{path}?{'&'.join(fields)}"
    assert canonical_request("GET", with_jwt) == canonical_request("GET", f"{path}?{query}")

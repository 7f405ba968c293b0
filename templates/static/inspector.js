// The event inspector's only script (plain ES2020): live rows over Server-Sent Events (in id
// order: a late commit lands in its place), times in the browser's local time with UTC on hover,
// clickable rows and filters that apply on change. No inline code anywhere: the
// Content-Security-Policy forbids it. Without this script, times stay in UTC.
"use strict";

(() => {
  const pad = (number) => String(number).padStart(2, "0");

  const utcOffset = (when) => {
    const minutes = -when.getTimezoneOffset();
    const size = Math.abs(minutes);
    return `UTC${minutes < 0 ? "-" : "+"}${pad(Math.floor(size / 60))}:${pad(size % 60)}`;
  };

  const localTimes = (root) => {
    for (const element of root.querySelectorAll("time[datetime]")) {
      const when = new Date(element.dateTime);
      if (Number.isNaN(when.getTime()) || element.dataset.utc) continue;
      element.dataset.utc = element.textContent.trim();
      element.textContent =
        `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ` +
        `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
      element.title = `${element.dataset.utc} (shown in local time, ${utcOffset(when)})`;
    }
  };

  const clickableRows = () => {
    document.addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-href]");
      if (!row || event.target.closest("a, button, input, select, summary")) return;
      if (String(window.getSelection() || "")) return;
      window.location.assign(row.dataset.href);
    });
  };

  const filtersApplyOnChange = () => {
    const form = document.querySelector("form.filters");
    if (!form) return;
    for (const select of form.querySelectorAll("select[data-excludes]")) {
      select.addEventListener("change", () => {
        const other = form.elements.namedItem(select.dataset.excludes);
        if (select.value && other) other.value = "";
      });
    }
    for (const select of form.querySelectorAll("select")) {
      select.addEventListener("change", () => form.requestSubmit());
    }
  };

  const live = () => {
    const body = document.getElementById("deliveries");
    const url = body && body.dataset.streamUrl;
    if (!url || !("EventSource" in window)) return;
    const badge = document.getElementById("live");
    const empty = document.getElementById("empty");
    let waiting = null;
    const show = (state, text) => {
      if (!badge) return;
      badge.dataset.state = state;
      badge.textContent = text;
    };
    const source = new EventSource(url);
    source.addEventListener("open", () => {
      clearTimeout(waiting);
      show("live", "live");
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        show("closed", "live updates stopped; reload the page");
        return;
      }
      clearTimeout(waiting);
      waiting = setTimeout(() => show("waiting", "reconnecting…"), 3000);
    });
    source.addEventListener("delivery", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!Number.isInteger(message.id) || typeof message.html !== "string") return;
      if (body.querySelector(`tr[data-id="${message.id}"]`)) return;
      const template = document.createElement("template");
      template.innerHTML = message.html;
      const row = template.content.querySelector("tr");
      if (!row) return;
      const older = [...body.querySelectorAll("tr[data-id]")].find(
        (shown) => Number(shown.dataset.id) < message.id,
      );
      if (!older && body.rows.length && document.querySelector(".pager a[rel='next']")) return;
      row.classList.add("fresh");
      localTimes(row);
      body.insertBefore(row, older || null);
      if (empty) empty.hidden = true;
    });
  };

  localTimes(document);
  clickableRows();
  filtersApplyOnChange();
  live();
})();

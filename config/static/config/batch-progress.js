// A print batch's page (templates/admin/campaigns/batch/change_form.html) while it renders: polls
// the batch's progress.json every few seconds and updates the progress bar, the figures (files done
// of total, cards per second, time left) and the links of the print files already joined. When the
// batch is ready (or failed) the page reloads once to show its final state. A file rather than an
// inline script: the Content-Security-Policy runs no inline script.
"use strict";
{
  const INTERVAL_MS = 3000;
  const box = document.querySelector(".batch-progress[data-progress-url]");
  const duration = (seconds) => {
    if (seconds === null) {
      return "working it out";
    }
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = Math.floor(seconds % 60);
    if (h) {
      return `${h} h ${String(m).padStart(2, "0")} min`;
    }
    return m ? `${m} min ${String(s).padStart(2, "0")} s` : `${s} s`;
  };
  const showDownloads = (data) => {
    const field = document.querySelector(".field-downloads .readonly");
    if (!field || !data.downloads.length) {
      return;
    }
    field.replaceChildren();
    data.downloads.forEach((download, index) => {
      if (index) {
        field.append(" · ");
      }
      const link = document.createElement("a");
      link.href = download.url;
      link.textContent = download.label;
      field.append(link);
    });
    const zip = document.createElement("a");
    zip.href = data.zip_url;
    zip.textContent = "all as a ZIP";
    field.append(" · ", zip);
  };
  const update = (data) => {
    const bar = box.querySelector("progress");
    const text = box.querySelector(".batch-progress-text");
    bar.max = data.card_count || 1;
    bar.value = data.cards_done;
    let line = `${data.cards_done}/${data.card_count} cards`;
    if (data.file_count) {
      line = `${data.files_done}/${data.file_count} files · ${line}`;
    }
    if (data.cards_per_second) {
      line += ` · ${data.cards_per_second} cards/s, ${duration(data.seconds_left)} left`;
    }
    text.textContent = line;
    showDownloads(data);
  };
  const poll = () => {
    fetch(box.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((data) => {
        if (data.status !== "queued" && data.status !== "rendering") {
          window.location.reload();
          return;
        }
        update(data);
        window.setTimeout(poll, INTERVAL_MS);
      })
      .catch(() => window.setTimeout(poll, INTERVAL_MS * 3));
  };
  if (box) {
    window.setTimeout(poll, INTERVAL_MS);
  }
}

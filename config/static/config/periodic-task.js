// django-celery-beat's periodic task form (templates/admin/djcelery/change_periodictask_form.html):
// shows what the chosen crontab means under the field, as the package's own inline script does.
// A file rather than that inline script: the Content-Security-Policy runs no inline script.
"use strict";
{
  const $ = django.jQuery;
  const readableCrontabs = JSON.parse(document.getElementById("readable-crontabs").textContent);
  const originalHelp = $(".field-crontab .help").html();
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(() => {
    const readable = readableCrontabs[$("#id_crontab").val()];
    $(".field-crontab .help").html(`${originalHelp}<br/>Translation: ${$("<span>").text(readable || "").html()}`);
  });
}

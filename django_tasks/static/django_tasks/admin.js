// django_tasks admin: the task page's live state and progress bar, and confirmations.
// Plain script, no framework: poll the task's JSON every second while it is not finished;
// reload the page once it is, to show its result or error.
"use strict";
(function () {
    function confirmations() {
        document.querySelectorAll("[data-confirm]").forEach(function (el) {
            el.addEventListener("click", function (event) {
                if (!window.confirm(el.getAttribute("data-confirm"))) {
                    event.preventDefault();
                }
            });
        });
    }

    function live() {
        var box = document.getElementById("dt-live");
        if (!box || !box.dataset.progressUrl) {
            return;
        }
        var url = box.dataset.progressUrl;
        var state = box.querySelector(".dt-live-state");
        var bar = box.querySelector(".dt-progress");
        var fill = box.querySelector(".dt-progress-bar");
        var text = box.querySelector(".dt-progress-text");
        var meta = document.querySelector(".dt-live-meta");
        var last = null;

        function show(data) {
            if (data.badge !== last) {
                state.innerHTML = data.badge;  // built with format_html on the server
                last = data.badge;
            }
            if (meta && data.meta !== null) {
                meta.textContent = JSON.stringify(data.meta, null, 2);
            }
            if (data.progress) {
                bar.classList.remove("dt-hidden");
                bar.setAttribute("aria-valuenow", String(data.progress.percent));
                fill.style.width = data.progress.percent + "%";
                text.textContent = data.progress.current + " / " + data.progress.total +
                    " (" + data.progress.percent + "%)";
            }
        }

        function poll() {
            fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
                .then(function (response) {
                    if (!response.ok) {
                        throw new Error(response.status);
                    }
                    return response.json();
                })
                .then(function (data) {
                    show(data);
                    if (data.ready) {
                        window.location.reload();
                    } else {
                        window.setTimeout(poll, 1000);
                    }
                })
                .catch(function () {
                    window.setTimeout(poll, 5000);
                });
        }
        window.setTimeout(poll, 1000);
    }

    // The task list: reload while tasks on it wait or run, unless the user is choosing
    // rows for an action or typing a search.
    function liveList() {
        var marker = document.getElementById("dt-list-live");
        if (!marker) {
            return;
        }
        var seconds = parseInt(marker.dataset.refresh, 10) || 5;
        var timer = window.setInterval(function () {
            var busy = document.querySelector("#changelist input.action-select:checked") ||
                (document.activeElement && document.activeElement.tagName === "INPUT" &&
                 document.activeElement.type === "text");
            if (!busy) {
                window.location.reload();
            }
        }, seconds * 1000);
        // A navigation away has begun: a reload now would abort it.
        window.addEventListener("beforeunload", function () {
            window.clearInterval(timer);
        });
    }

    function ready() {
        confirmations();
        live();
        liveList();
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", ready);
    } else {
        ready();
    }
})();

// poolchat page loader: shows the name dialog at once (unless the tab
// resumes), downloads the wasm client with a progress bar, and starts it.
// A name given before the client is running is kept on the form
// (data-pending) for the client to take.
"use strict";

(() => {
  const script = document.currentScript;
  const wasmURL = script.dataset.wasmUrl || "/assets/poolchat.wasm";
  const wasmSize = Number(script.dataset.wasmSize) || 0;
  const dialog = document.getElementById("name-dialog");
  const form = document.getElementById("name-form");
  const input = document.getElementById("name");
  const status = document.getElementById("status");
  const loading = document.getElementById("loading");
  const bar = document.getElementById("loading-bar");
  const say = (words) => { status.textContent = words; document.body.dataset.status = words; };

  // Until the client runs, hold the name; the client replaces this.
  const hold = (ev) => {
    ev.preventDefault();
    form.dataset.pending = input.value;
    input.disabled = true;
    say("connecting");
  };
  form.addEventListener("submit", hold);

  // A tab whose page ended without leaving (it crashed) resumes its
  // place; the client asks for a name only if that fails.
  let resuming = false;
  try {
    const saved = localStorage.getItem("poolchat.name");
    if (saved && !input.value) input.value = saved;
    resuming = Boolean(sessionStorage.getItem("poolchat.resume") && sessionStorage.getItem("poolchat.session-name"));
  } catch (_) { /* storage may be off */ }
  if (resuming) {
    say("reconnecting…");
  } else {
    say("waiting for your name");
    if (!dialog.open) dialog.showModal(); // modal: focus stays in the dialog
    input.focus();
    // go tool task dev reloads the page after each rebuild: rejoin at once.
    if (document.body.hasAttribute("data-dev-reload") && input.value) form.requestSubmit();
  }

  const fail = (err) => {
    say("could not load the chat client");
    loading.classList.add("failed");
    console.error("poolchat:", err);
  };

  // Download with progress. Content-Length is the compressed size, so the
  // bar counts the raw bytes the page knows the wasm to have.
  const download = async () => {
    const res = await fetch(wasmURL);
    if (!res.ok) throw new Error(wasmURL + ": HTTP " + res.status);
    if (!res.body || !wasmSize) return res.arrayBuffer();
    const reader = res.body.getReader();
    const chunks = [];
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      got += value.length;
      bar.value = Math.min(100, (100 * got) / wasmSize);
    }
    const bytes = new Uint8Array(got);
    let at = 0;
    for (const c of chunks) { bytes.set(c, at); at += c.length; }
    return bytes.buffer;
  };

  const start = async () => {
    const go = new Go();
    const { instance } = await WebAssembly.instantiate(await download(), go.importObject);
    bar.value = 100;
    loading.hidden = true;
    form.removeEventListener("submit", hold);
    go.run(instance).then(() => fail(new Error("the client stopped")));
  };
  start().catch(fail);
})();

// chainrule's local web app: one page per served model, built from the model's tasks (GET /api/models).
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];
let current = null; // the chosen model's facts
const picked = { index: null, file: null }; // the image to complete / map: a test example or an upload
let mask = null; // Uint8Array(H * W), 1 = hidden
let shownImage = null; // what the canvas shows under the mask

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function failure(response) {
  try {
    const body = await response.json();
    return body.error || response.statusText;
  } catch (err) {
    return `${response.status} ${response.statusText}`;
  }
}

async function post(path, form) {
  showError("");
  form.set("name", current.name);
  const response = await fetch(path, { method: "POST", body: form });
  if (!response.ok) throw new Error(await failure(response));
  return response;
}

function busy(button, on) {
  if (button) button.disabled = on;
}

// the seconds a request has taken so far, beside its button, while it runs (streamed ones show their own progress)
function ticker(button) {
  if (!button) return () => {};
  let label = button.nextElementSibling;
  if (!label || !label.classList.contains("working")) {
    label = document.createElement("span");
    label.className = "working note";
    button.insertAdjacentElement("afterend", label);
  }
  const start = performance.now();
  const tick = () => { label.textContent = `working… ${((performance.now() - start) / 1000).toFixed(1)} s`; };
  tick();
  const timer = setInterval(tick, 200);
  return () => { clearInterval(timer); label.textContent = ""; };
}

async function guarded(button, work) {
  busy(button, true);
  const stop = ticker(button);
  try {
    await work();
  } catch (err) {
    showError(err.message);
  } finally {
    stop();
    busy(button, false);
  }
}

function formOf(element) {
  const form = new FormData(element);
  for (const [key, value] of [...form.entries()]) {
    if (value === "" || (value instanceof File && !value.name)) form.delete(key);
  }
  return form;
}

// --- models --------------------------------------------------------------------------------------------------

async function loadModels() {
  const response = await fetch("/api/models");
  const body = await response.json();
  models = body.models;
  const select = $("model");
  select.innerHTML = "";
  for (const m of models) {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = `${m.name} (${m.kind})`;
    select.appendChild(option);
  }
  select.addEventListener("change", () => choose(select.value));
  if (models.length) await choose(models[0].name);
}

async function choose(name) {
  current = models.find((m) => m.name === name);
  showError("");
  for (const section of document.querySelectorAll("section[data-task]")) {
    section.hidden = !current.tasks.includes(section.dataset.task);
  }
  const shape = current.shape.join("x");
  $("facts").textContent = `${current.family}, ${shape}, ${current.levels} levels` +
    (current.classes ? `, ${current.classes} classes` : "") + (current.rate ? `, ${current.rate} Hz` : "");
  document.querySelector("#sample .classes").hidden = !current.classes;
  clearOutputs();
  document.body.dataset.model = name;
  if (current.tasks.includes("complete")) await loadExamples();
  if (current.tasks.includes("convert")) await loadConvertExamples();
}

// what the previous model drew or measured is not shown under the next one
function clearOutputs() {
  for (const id of ["sample-image", "audio-out"]) {
    $(id).hidden = true;
    $(id).removeAttribute("src");
  }
  for (const id of ["sample-note", "complete-out", "complete-note", "convert-out", "convert-time", "bits-out",
    "continue-out", "text-bits-out", "audio-note", "score-out", "compress-out"]) {
    $(id).textContent = "";
  }
  delete document.body.dataset.sampled;
}

// --- sampling (streamed: JSON lines with partial grids) ---------------------------------------------------------

async function sample(event) {
  event.preventDefault();
  const button = event.submitter;
  await guarded(button, async () => {
    const bar = $("sample-progress");
    bar.hidden = false;
    bar.value = 0;
    const start = performance.now();
    const response = await post("/api/sample", formOf($("sample-form")));
    let first = null;
    await readLines(response, (item) => {
      if (item.error) throw new Error(item.error);
      if (first === null) first = performance.now() - start;
      bar.value = item.progress;
      $("sample-image").src = item.image || item.partial;
      $("sample-image").hidden = false;
      if (item.image) {
        $("sample-note").textContent =
          `drawn in ${item.seconds.toFixed(2)} s (first picture after ${(first / 1000).toFixed(2)} s)`;
        document.body.dataset.sampled = "yes";
      }
    });
    bar.hidden = true;
  });
}

async function readLines(response, onItem) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 1);
      if (line.trim()) onItem(JSON.parse(line));
    }
  }
}

// --- completion: pick an image, paint the mask -----------------------------------------------------------------

async function loadExamples() {
  const box = $("examples");
  box.innerHTML = "";
  const response = await fetch(`/api/examples?name=${encodeURIComponent(current.name)}`);
  const body = await response.json();
  body.images.forEach((src, index) => {
    const img = document.createElement("img");
    img.src = src;
    img.alt = `test image ${index}`;
    img.dataset.index = index;
    img.addEventListener("click", () => pickExample(index, img));
    box.appendChild(img);
  });
  resetMask();
  const first = box.querySelector("img");
  if (first) {
    if (first.complete) pickExample(0, first);
    else first.addEventListener("load", () => pickExample(0, first), { once: true });
  }
}

function size() {
  const [, h, w] = current.shape;
  return { h, w, scale: $("canvas").width / w };
}

function resetMask() {
  const { h, w } = size();
  mask = new Uint8Array(h * w);
  draw();
}

function pickExample(index, img) {
  picked.index = index;
  picked.file = null;
  $("complete-file").value = "";
  for (const other of document.querySelectorAll(".examples img")) other.classList.toggle("picked", other === img);
  shownImage = img;
  draw();
}

function pickUpload(file) {
  picked.file = file;
  picked.index = null;
  for (const other of document.querySelectorAll(".examples img")) other.classList.remove("picked");
  shownImage = null;
  if (file && file.name.toLowerCase().endsWith(".png")) {
    const img = new Image();
    img.onload = () => { shownImage = img; draw(); };
    img.src = URL.createObjectURL(file);
  }
  draw();
}

function draw(preview) {
  const canvas = $("canvas");
  const context = canvas.getContext("2d");
  const { h, w, scale } = size();
  context.imageSmoothingEnabled = false;
  context.fillStyle = "#bbb";
  context.fillRect(0, 0, canvas.width, canvas.height);
  if (shownImage) context.drawImage(shownImage, 0, 0, w * scale, h * scale);
  context.fillStyle = "rgba(220, 40, 40, 0.6)";
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      if (mask[i * w + j] || (preview && inside(preview, i, j))) context.fillRect(j * scale, i * scale, scale, scale);
    }
  }
}

function inside(box, i, j) {
  return i >= Math.min(box.i0, box.i1) && i <= Math.max(box.i0, box.i1) &&
    j >= Math.min(box.j0, box.j1) && j <= Math.max(box.j0, box.j1);
}

function cell(event) {
  const canvas = $("canvas");
  const rect = canvas.getBoundingClientRect();
  const { h, w } = size();
  const j = Math.floor(((event.clientX - rect.left) / rect.width) * w);
  const i = Math.floor(((event.clientY - rect.top) / rect.height) * h);
  return { i: Math.max(0, Math.min(h - 1, i)), j: Math.max(0, Math.min(w - 1, j)) };
}

function paint(at) {
  const { h, w } = size();
  const radius = Number($("brush").value) - 1;
  for (let i = at.i - radius; i <= at.i + radius; i++) {
    for (let j = at.j - radius; j <= at.j + radius; j++) {
      if (i >= 0 && i < h && j >= 0 && j < w && (i - at.i) ** 2 + (j - at.j) ** 2 <= radius * radius + 0.5) {
        mask[i * w + j] = 1;
      }
    }
  }
}

function setUpPainter() {
  const canvas = $("canvas");
  let down = null;
  const tool = () => document.querySelector("input[name=tool]:checked").value;
  canvas.addEventListener("mousedown", (event) => {
    down = cell(event);
    if (tool() === "brush") { paint(down); draw(); }
  });
  canvas.addEventListener("mousemove", (event) => {
    if (!down) return;
    const at = cell(event);
    if (tool() === "brush") { paint(at); draw(); } else draw({ i0: down.i, j0: down.j, i1: at.i, j1: at.j });
  });
  window.addEventListener("mouseup", (event) => {
    if (!down) return;
    if (tool() === "rect") {
      const at = cell(event);
      const box = { i0: down.i, j0: down.j, i1: at.i, j1: at.j };
      const { h, w } = size();
      for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) if (inside(box, i, j)) mask[i * w + j] = 1;
    }
    down = null;
    draw();
  });
  $("clear").addEventListener("click", resetMask);
  $("complete-file").addEventListener("change", (event) => pickUpload(event.target.files[0]));
}

function imageForm() {
  const form = new FormData();
  if (picked.file) form.set("file", picked.file);
  else if (picked.index !== null) form.set("index", picked.index);
  return form;
}

function figure(src, caption) {
  const box = document.createElement("figure");
  const img = document.createElement("img");
  img.src = src;
  img.alt = caption;
  const text = document.createElement("figcaption");
  text.textContent = caption;
  box.append(img, text);
  return box;
}

async function completeRegion(event) {
  await guarded(event.target, async () => {
    const form = imageForm();
    form.set("mask", JSON.stringify(Array.from(mask)));
    form.set("n", $("completions").value);
    const body = await (await post("/api/complete", form)).json();
    const out = $("complete-out");
    out.innerHTML = "";
    out.append(figure(body.original, "original"), figure(body.masked, "hidden"));
    body.completions.forEach((src, k) => out.append(figure(src, `completion ${k + 1}`)));
    $("complete-note").textContent = `${body.completions.length} completions in ${body.seconds.toFixed(2)} s ` +
      `(${body.particles} candidates each; effective sample sizes ${body.ess.map((e) => e.toFixed(1)).join(", ")})`;
    window.lastCompletion = body; // for tests and the curious: the values themselves
  });
}

async function showBits(event) {
  await guarded(event.target, async () => {
    const body = await (await post("/api/bits", imageForm())).json();
    const out = $("bits-out");
    out.innerHTML = "";
    out.append(figure(body.image, "image"), figure(body.map, `${body.bits_per_dim.toFixed(3)} bits/dim`));
  });
}

// --- image-to-image: upscale or colourise ----------------------------------------------------------------------

const convertPick = { index: 0 };

async function loadConvertExamples() {
  const upscale = current.task.startsWith("lowres");
  $("convert-title").textContent = upscale
    ? `Upscale (${current.source_shape.slice(1).join("x")} → ${current.shape.slice(1).join("x")})`
    : "Colourise";
  const box = $("convert-examples");
  box.innerHTML = "";
  const body = await (await fetch(`/api/examples?name=${encodeURIComponent(current.name)}`)).json();
  body.images.forEach((src, index) => {
    const img = document.createElement("img");
    img.src = src;
    img.alt = `test image ${index}`;
    img.dataset.index = index;
    img.classList.toggle("picked", index === 0);
    img.addEventListener("click", () => {
      convertPick.index = index;
      for (const other of box.querySelectorAll("img")) other.classList.toggle("picked", other === img);
    });
    box.appendChild(img);
  });
}

async function convertImage(event) {
  event.preventDefault();
  await guarded(event.submitter, async () => {
    const form = formOf($("convert-form"));
    if (!form.has("file")) form.set("index", convertPick.index);
    const body = await (await post("/api/convert", form)).json();
    const out = $("convert-out");
    out.innerHTML = "";
    out.append(figure(body.input, "input"));
    if (body.bicubic) out.append(figure(body.bicubic, "bicubic"));
    body.samples.forEach((src, k) => out.append(figure(src, `sample ${k + 1}`)));
    if (body.original) out.append(figure(body.original, "original"));
    $("convert-time").textContent = `${body.samples.length} samples in ${body.seconds.toFixed(2)} s`;
  });
}

// --- text -------------------------------------------------------------------------------------------------------

async function continueText(event) {
  event.preventDefault();
  await guarded(event.submitter, async () => {
    const form = formOf($("continue-form"));
    const out = $("continue-out");
    out.textContent = form.get("prompt") || "";
    const response = await post("/api/continue", form);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      const cut = text.indexOf("\u0000error: ");
      if (cut >= 0) {
        out.textContent += text.slice(0, cut);
        throw new Error(text.slice(cut + 8).trim());
      }
      out.textContent += text;
    }
    document.body.dataset.continued = "yes";
  });
}

function colourOf(bits, top) {
  const t = Math.min(1, bits / top);
  return `rgba(230, ${Math.round(120 - 60 * t)}, 40, ${0.08 + 0.75 * t})`;
}

function showCharacters(box, pairs) {
  box.innerHTML = "";
  const top = Math.max(1, ...pairs.map((p) => p[1]));
  for (const [character, bits] of pairs) {
    const span = document.createElement("span");
    span.textContent = character;
    span.title = `${bits.toFixed(2)} bits`;
    span.dataset.bits = bits.toFixed(3);
    span.style.background = colourOf(bits, Math.min(top, 12));
    box.appendChild(span);
  }
}

async function textBits(event) {
  event.preventDefault();
  await guarded(event.submitter, async () => {
    const body = await (await post("/api/text-bits", formOf($("text-bits-form")))).json();
    const box = $("text-bits-out");
    showCharacters(box, body.characters);
    const line = document.createElement("div");
    line.className = "note";
    line.textContent = `${body.bits_per_char.toFixed(3)} bits per character`;
    box.appendChild(line);
  });
}

// --- audio ------------------------------------------------------------------------------------------------------

async function generateAudio(event) {
  event.preventDefault();
  await guarded(event.submitter, async () => {
    const start = performance.now();
    const body = await (await post("/api/audio", formOf($("audio-form")))).json();
    const player = $("audio-out");
    player.src = body.wav;
    player.hidden = false;
    $("audio-note").textContent = `${body.seconds} s generated in ${((performance.now() - start) / 1000).toFixed(1)} s`;
  });
}

// --- any model: score and compress an upload --------------------------------------------------------------------

async function scoreUpload(event) {
  event.preventDefault();
  await guarded(event.submitter, async () => {
    const body = await (await post("/api/score", formOf($("score-form")))).json();
    const out = $("score-out");
    out.innerHTML = "";
    const line = document.createElement("p");
    line.textContent = `${body.bits_per_dim.toFixed(4)} bits per dimension` + (body.reference !== null
      ? ` (the model's validation data: ${body.reference.toFixed(4)}; ${body.excess >= 0 ? "+" : ""}` +
        `${body.excess.toFixed(4)}: ${body.excess > 0.5 ? "unusual" : "typical"} for this model)`
      : "");
    out.appendChild(line);
    if (body.map) {
      const row = document.createElement("div");
      row.className = "row";
      row.append(figure(body.image, "input"), figure(body.map, "bits per pixel"));
      out.appendChild(row);
    }
    if (body.characters) {
      const box = document.createElement("p");
      box.className = "characters";
      showCharacters(box, body.characters);
      out.appendChild(box);
    }
  });
}

async function compressUpload(event) {
  event.preventDefault();
  await guarded(event.submitter, async () => {
    const body = await (await post("/api/compress", formOf($("compress-form")))).json();
    $("compress-out").innerHTML = `<table>
      <tr><th></th><th>bytes</th></tr>
      <tr><td>the file</td><td>${body.original.toLocaleString()}</td></tr>
      <tr><td>${body.classic_name}</td><td>${body.classic.toLocaleString()}</td></tr>
      <tr><td>this model (${body.bits_per_value.toFixed(3)} bits/value)</td><td>${body.compressed.toLocaleString()}</td></tr>
      </table><p class="note">decoded again: ${body.equal ? "identical, value for value" : "DIFFERENT"};
      coded in ${body.seconds.toFixed(2)} s</p>`;
  });
}

window.addEventListener("DOMContentLoaded", async () => {
  $("sample-form").addEventListener("submit", sample);
  $("convert-form").addEventListener("submit", convertImage);
  $("continue-form").addEventListener("submit", continueText);
  $("text-bits-form").addEventListener("submit", textBits);
  $("audio-form").addEventListener("submit", generateAudio);
  $("score-form").addEventListener("submit", scoreUpload);
  $("compress-form").addEventListener("submit", compressUpload);
  $("complete-button").addEventListener("click", completeRegion);
  $("bits-button").addEventListener("click", showBits);
  setUpPainter();
  try {
    await loadModels();
    document.body.dataset.ready = "yes";
  } catch (err) {
    showError(`could not load the models: ${err.message}`);
  }
});

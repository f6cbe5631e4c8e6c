// The web page: choose or record a video, send it to POST /translate, show what the model understood.
"use strict";

const $ = (id) => document.getElementById(id);
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
let recorder = null;

function colourOf(gloss, glosses) {
  return COLOURS[glosses.indexOf(gloss) % COLOURS.length];
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function showVideo(blob) {
  const video = $("video");
  if (video.src) URL.revokeObjectURL(video.src);
  video.src = URL.createObjectURL(blob);
  $("player").hidden = false;
}

async function translate(blob, name) {
  showError("");
  $("result").hidden = true;
  $("timeline").querySelectorAll(".gloss").forEach((node) => node.remove());
  showVideo(blob);
  $("status").textContent = "Translating…";
  const form = new FormData();
  form.append("video", blob, name);
  try {
    const response = await fetch("/translate", { method: "POST", body: form });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    showResult(answer);
    $("status").textContent = "";
  } catch (error) {
    $("status").textContent = "";
    showError(error.message);
  }
}

function showResult(answer) {
  $("sentence").textContent = answer.sentence || "(no sentence)";
  $("glosses").textContent = answer.glosses || "(no gloss recognised)";
  const names = [...new Set(answer.spans.map((span) => span.gloss))];
  drawTimeline(answer.spans, answer.duration, names);
  drawPlot(answer.times, answer.probabilities, answer.duration, names);
  const stages = Object.entries(answer.seconds).map(([stage, s]) => `${stage} ${s.toFixed(2)} s`);
  $("timings").textContent = `${stages.join(" · ")} · batch of ${answer.batch_size}`;
  $("result").hidden = false;
}

function drawTimeline(spans, duration, names) {
  const timeline = $("timeline");
  for (const span of spans) {
    const button = document.createElement("button");
    button.className = "gloss";
    button.type = "button";
    button.textContent = span.gloss;
    button.title = `${span.gloss}: ${span.start.toFixed(2)}–${span.end.toFixed(2)} s, score ${span.score.toFixed(2)}`;
    button.dataset.start = span.start;
    button.style.left = `${(100 * span.start) / duration}%`;
    button.style.width = `${(100 * (span.end - span.start)) / duration}%`;
    button.style.background = colourOf(span.gloss, names);
    button.addEventListener("click", () => {
      $("video").currentTime = span.start;
      movePlayhead(span.start, duration);
    });
    timeline.appendChild(button);
  }
  const video = $("video");
  video.ontimeupdate = () => movePlayhead(video.currentTime, duration);
}

function movePlayhead(time, duration) {
  $("playhead").style.left = `${Math.min(100, (100 * time) / duration)}%`;
}

function drawPlot(times, probabilities, duration, names) {
  const canvas = $("plot");
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const x = (time) => (width * time) / duration;
  const y = (p) => height - 4 - (height - 8) * p;
  const legend = $("legend");
  legend.replaceChildren();
  for (const [name, curve] of Object.entries(probabilities)) {
    const colour = name === "<blank>" ? "#999" : colourOf(name, names);
    context.strokeStyle = colour;
    context.setLineDash(name === "<blank>" ? [4, 4] : []);
    context.lineWidth = 2;
    context.beginPath();
    curve.forEach((p, i) => (i ? context.lineTo(x(times[i]), y(p)) : context.moveTo(x(times[i]), y(p))));
    context.stroke();
    const entry = document.createElement("span");
    entry.innerHTML = `<i style="background:${colour}"></i>`;
    entry.append(name);
    legend.appendChild(entry);
  }
}

async function toggleRecording() {
  if (recorder) {
    recorder.stop();
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (event) => chunks.push(event.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((track) => track.stop());
      recorder = null;
      $("record").textContent = "Record from the camera";
      translate(new Blob(chunks, { type: chunks[0]?.type || "video/webm" }), "recording.webm");
    };
    recorder.start();
    $("record").textContent = "Stop and translate";
    $("video").srcObject = null;
  } catch (error) {
    showError(`The camera is not available: ${error.message}`);
  }
}

$("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) translate(file, file.name);
});
$("record").addEventListener("click", toggleRecording);
fetch("/health")
  .then((response) => response.json())
  .then((health) => ($("model").textContent = `${health.model} on ${health.device} (${health.precision})`))
  .catch(() => {});

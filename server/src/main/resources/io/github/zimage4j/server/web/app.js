'use strict';
// The zimage4j page: one form, the native job API (POST /api/jobs, progress as server-sent events read with
// fetch so the API key can travel in a header), and a gallery of results.

const $ = (id) => document.getElementById(id);
const state = { info: null, job: null, locked: false, key: localStorage.getItem('zimage4j.key') || '' };

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.key) h['Authorization'] = 'Bearer ' + state.key;
  return h;
}

async function api(path, options) {
  const res = await fetch(path, Object.assign({}, options, { headers: headers(options && options.headers) }));
  if (res.status === 401) {
    $('auth').hidden = false;
    throw new Error('an API key is required');
  }
  const body = res.headers.get('Content-Type')?.startsWith('application/json') ? await res.json() : null;
  if (!res.ok) {
    const msg = body?.error?.message || res.statusText;
    const retry = res.headers.get('Retry-After');
    throw new Error(msg + (retry ? ' (retry in ' + retry + ' s)' : ''));
  }
  return body;
}

async function loadInfo() {
  try {
    const info = await api('/api/info');
    state.info = info;
    $('model').textContent = info.model + (info.variant ? ' · ' + info.variant : ' · ' + info.status);
    $('queue').textContent = info.queue.waiting + ' waiting · queue of ' + info.queue.capacity;
    if (info.status !== 'ready') {
      setTimeout(loadInfo, 1000);
      return;
    }
    $('turbo-note').hidden = !info.turbo;
    document.querySelectorAll('.guided').forEach((e) => e.classList.toggle('off', info.turbo));
    if (!state.configured) {
      configure(info);
      state.configured = true;
    }
  } catch (e) {
    $('model').textContent = 'not connected';
    showError(e);
  }
}

function configure(info) {
  const sel = $('size');
  sel.innerHTML = '';
  for (const s of info.sizes) {
    if (s.width * s.height > info.limits.max_pixels || Math.max(s.width, s.height) > info.limits.max_side) continue;
    sel.add(new Option(s.width + ' × ' + s.height + '  (' + ratio(s.width, s.height) + ')', s.width + 'x' + s.height));
  }
  sel.add(new Option('custom', 'custom'));
  sel.value = '1024x1024';
  $('steps').value = info.defaults.steps;
  $('steps').max = info.limits.max_steps;
  $('guidance').value = info.defaults.guidance;
  $('batch').max = info.limits.max_batch;
  $('width').max = $('height').max = info.limits.max_side;
  syncSize();
  $('loras-none').hidden = info.loras.length > 0 && info.loras_supported;
  if (info.loras.length > 0 && !info.loras_supported) {
    $('loras-none').textContent = 'This build cannot apply LoRAs yet.';
  }
  $('lora-list').innerHTML = '';
  for (const name of info.loras) {
    const row = document.createElement('div');
    row.className = 'lora';
    row.innerHTML = '<input type="checkbox"><span></span><input type="number" step="0.05" value="1">';
    row.querySelectorAll('input').forEach((i) => { i.disabled = !info.loras_supported; });
    row.querySelector('span').textContent = name;
    row.dataset.path = name;
    $('lora-list').append(row);
  }
}

function ratio(w, h) {
  const g = (a, b) => (b ? g(b, a % b) : a);
  const d = g(w, h);
  return w / d + ':' + h / d;
}

function syncSize() {
  const v = $('size').value;
  const custom = v === 'custom';
  $('width').disabled = $('height').disabled = !custom;
  if (!custom) {
    const [w, h] = v.split('x');
    $('width').value = w;
    $('height').value = h;
  }
}

function randomSeed() {
  return Math.floor(Math.random() * 4294967296);
}

function request() {
  const r = {
    prompt: $('prompt').value,
    negative_prompt: $('negative').value,
    width: Number($('width').value),
    height: Number($('height').value),
    steps: Number($('steps').value),
    guidance: Number($('guidance').value),
    batch_size: Number($('batch').value),
    preview_every: 1,
  };
  if ($('seed').value !== '') r.seed = Number($('seed').value);
  const loras = [...document.querySelectorAll('#lora-list .lora')]
    .filter((row) => row.querySelector('input[type=checkbox]').checked)
    .map((row) => ({ path: row.dataset.path, strength: Number(row.querySelector('input[type=number]').value) }));
  if (loras.length) r.loras = loras;
  return r;
}

async function generate(ev) {
  ev.preventDefault();
  showError(null);
  let job;
  try {
    job = await api('/api/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request()) });
  } catch (e) {
    showError(e);
    return;
  }
  if (!state.locked) $('seed').value = '';
  state.job = job.id;
  $('cancel').disabled = false;
  $('progress-box').hidden = false;
  $('preview-box').hidden = true;
  setProgress(0, 'queued (position ' + job.position + ')');
  try {
    await follow(job.id);
  } catch (e) {
    showError(e);
  } finally {
    if (state.job === job.id) {
      state.job = null;
      $('cancel').disabled = true;
    }
    loadInfo();
  }
}

// Reads the job's server-sent events until the final one.
async function follow(id) {
  const res = await fetch('/api/jobs/' + id + '/events', { headers: headers() });
  if (!res.ok) throw new Error('progress stream: ' + res.status);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let name = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data && onEvent(name, JSON.parse(data))) return;
    }
  }
}

function onEvent(name, d) {
  switch (name) {
    case 'queued': setProgress(0, 'queued (position ' + d.position + ')'); break;
    case 'started': setProgress(0, 'started'); break;
    case 'stage': setProgress(null, d.stage + '…'); break;
    case 'progress': setProgress(d.progress, 'step ' + d.step + ' / ' + d.total_steps); break;
    case 'preview': $('preview').src = d.image; $('preview-box').hidden = false; break;
    case 'succeeded':
      setProgress(1, 'done in ' + d.seconds.toFixed(1) + ' s');
      for (const img of d.images) addCard(d, img);
      return true;
    case 'failed': setProgress(0, 'failed'); showError(new Error(d.error)); return true;
    case 'cancelled': setProgress(0, 'cancelled'); return true;
  }
  return false;
}

function setProgress(p, text) {
  if (p !== null) $('bar').style.width = Math.round(p * 100) + '%';
  $('status').textContent = text;
}

function addCard(job, img) {
  const p = job.params;
  const card = document.createElement('div');
  card.className = 'card';
  card.innerHTML = '<img alt=""><div class="meta"><p class="prompt"></p><p class="params"></p></div>'
    + '<div class="buttons"><button type="button" class="reuse">Reuse settings</button><a class="download">Download</a></div>';
  const url = img.url;
  loadImage(card.querySelector('img'), url);
  card.querySelector('img').alt = p.prompt;
  card.querySelector('.prompt').textContent = p.prompt;
  const params = card.querySelector('.params');
  const seed = document.createElement('span');
  seed.className = 'seed';
  seed.textContent = 'seed ' + img.seed;
  params.append(seed, ' · ' + p.width + '×' + p.height + ' · ' + p.steps + ' steps · guidance ' + p.guidance
    + (p.negative_prompt ? ' · negative: ' + p.negative_prompt : ''));
  card.dataset.seed = img.seed;
  card.querySelector('.reuse').addEventListener('click', () => reuse(p, img.seed));
  const a = card.querySelector('.download');
  a.download = 'zimage-' + img.seed + '.png';
  $('gallery').prepend(card);
  $('empty').hidden = true;
}

// Images are fetched with the API key header, then shown from a blob URL (also the download link).
async function loadImage(el, url) {
  const res = await fetch(url, { headers: headers() });
  const blobUrl = URL.createObjectURL(await res.blob());
  el.src = blobUrl;
  el.closest('.card').querySelector('.download').href = blobUrl;
}

function reuse(p, seed) {
  $('prompt').value = p.prompt;
  $('negative').value = p.negative_prompt;
  const key = p.width + 'x' + p.height;
  $('size').value = [...$('size').options].some((o) => o.value === key) ? key : 'custom';
  $('width').value = p.width;
  $('height').value = p.height;
  syncSize();
  $('steps').value = p.steps;
  $('guidance').value = p.guidance;
  $('batch').value = 1;
  $('seed').value = seed;
  setLock(true);
  window.scrollTo({ top: 0, behavior: 'smooth' });
}

function setLock(on) {
  state.locked = on;
  $('lock').setAttribute('aria-pressed', String(on));
  $('shackle').setAttribute('d', on ? 'M8 11V7a4 4 0 0 1 8 0v4' : 'M8 11V7a4 4 0 0 1 8 0');
  $('lock').title = on ? 'Seed locked: every job uses it' : 'Keep this seed for the next jobs';
}

function showError(e) {
  $('error').textContent = e ? e.message : '';
}

async function cancel() {
  if (!state.job) return;
  try {
    await api('/api/jobs/' + state.job + '/cancel', { method: 'POST' });
  } catch (e) {
    showError(e);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('form').addEventListener('submit', generate);
  $('size').addEventListener('change', syncSize);
  $('dice').addEventListener('click', () => { $('seed').value = randomSeed(); });
  $('lock').addEventListener('click', () => {
    if (!state.locked && $('seed').value === '') $('seed').value = randomSeed();
    setLock(!state.locked);
  });
  $('cancel').addEventListener('click', cancel);
  $('api-key').value = state.key;
  $('api-key-save').addEventListener('click', () => {
    state.key = $('api-key').value.trim();
    localStorage.setItem('zimage4j.key', state.key);
    $('auth').hidden = true;
    showError(null);
    loadInfo();
  });
  loadInfo();
});

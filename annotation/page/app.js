/* global document, window, sessionStorage, fetch, prompt, location, Option, HTMLInputElement, HTMLTextAreaElement */
// The annotator page: plain DOM, no framework. The token lives in sessionStorage (gone when the tab closes) and
// goes in the Authorization header; previews are fetched with it and shown as blob URLs.
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('tributary-token') || '';
let me = null;
let claim = null;
let choice = null;
let regions = [];
let blobUrls = [];

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const message = data?.issue?.[0]?.diagnostics || `HTTP ${res.status}`;
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return data;
}

async function signIn() {
  try {
    me = (await api('GET', '/api/me')).user;
  } catch (e) {
    sessionStorage.removeItem('tributary-token');
    $('signin').hidden = false;
    $('work').hidden = true;
    setStatus('');
    if (token) alertSignIn(e.message);
    return;
  }
  sessionStorage.setItem('tributary-token', token);
  $('who').textContent = `${me.id} (${me.role})`;
  $('signin').hidden = true;
  $('work').hidden = false;
  const { queues } = await api('GET', '/api/queues');
  $('queue').replaceChildren(...queues.map((q) => new Option(`${q.title} — ${q.counts.open} open`, q.id)));
  setStatus(queues.length ? 'Ready. Press N to claim the next item.' : 'No queues are assigned to you.');
  $('claim').focus();
}

function alertSignIn(message) {
  let p = $('signin-error');
  if (!p) {
    p = document.createElement('p');
    p.id = 'signin-error';
    p.className = 'error';
    p.setAttribute('role', 'alert');
    $('signin').append(p);
  }
  p.textContent = `Sign-in failed: ${message}`;
}

function clearItem() {
  claim = null;
  choice = null;
  regions = [];
  blobUrls.forEach((u) => URL.revokeObjectURL(u));
  blobUrls = [];
  $('item').hidden = true;
}

async function claimNext() {
  const queue = $('queue').value;
  if (!queue) return;
  clearItem();
  setStatus('Claiming…');
  try {
    const data = await api('POST', `/api/queues/${encodeURIComponent(queue)}/claim`);
    if (!data) return setStatus('Nothing left for you in this queue.');
    claim = data.claim;
    await renderItem(claim.item);
    setStatus(`Claimed. Lease until ${new Date(claim.leaseExpiresAt).toLocaleTimeString()}.`);
    // Focus leaves the Claim button, so Enter submits instead of claiming again.
    $('item').focus();
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function renderItem(item) {
  $('item').hidden = false;
  $('item-title').textContent = item.summary.title || `${item.resourceType}`;
  $('item-meta').textContent = [item.resourceType, item.sourceKind, item.modality, item.bodySite]
    .filter(Boolean)
    .join(' · ');
  $('item-excerpts').replaceChildren(
    ...(item.summary.excerpts || []).map((t) => {
      const p = document.createElement('div');
      p.className = 'excerpt';
      p.textContent = t;
      return p;
    }),
  );
  $('item-codes').textContent = item.codes.length
    ? `Codes: ${item.codes.map((c) => c.display || c.code).join(', ')}`
    : '';
  $('lease').textContent = '';
  $('task-classification').hidden = item.taskType !== 'classification';
  $('task-finding').hidden = item.taskType !== 'free-text-finding';
  $('task-region').hidden = item.taskType !== 'image-region';
  if (item.taskType === 'classification') {
    $('task-classification').replaceChildren(
      ...item.choices.map((c, i) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = `${i + 1}. ${c}`;
        b.setAttribute('aria-pressed', 'false');
        b.dataset.choice = c;
        b.addEventListener('click', () => choose(c));
        return b;
      }),
    );
  }
  if (item.taskType === 'free-text-finding') {
    $('finding-present').checked = false;
    $('finding-text').value = '';
  }
  if (item.taskType === 'image-region') {
    $('region-label').replaceChildren(...item.choices.map((c) => new Option(c, c)));
  }
  const previews = await Promise.all(
    item.previews.map(async (p) => {
      const res = await fetch(
        `/api/queues/${encodeURIComponent(item.queue)}/items/${encodeURIComponent(item.itemId)}/previews/${p.index}`,
        {
          headers: { authorization: `Bearer ${token}` },
        },
      );
      if (!res.ok) return null;
      const url = URL.createObjectURL(await res.blob());
      blobUrls.push(url);
      const wrap = document.createElement('div');
      wrap.className = 'preview';
      const img = document.createElement('img');
      img.src = url;
      img.alt = p.caption || `preview ${p.index + 1}`;
      img.draggable = false;
      wrap.append(img);
      if (item.taskType === 'image-region') enableDrawing(wrap, img, p.index);
      return wrap;
    }),
  );
  $('item-previews').replaceChildren(...previews.filter(Boolean));
}

function choose(c) {
  choice = c;
  for (const b of $('task-classification').querySelectorAll('button'))
    b.setAttribute('aria-pressed', String(b.dataset.choice === c));
}

function enableDrawing(wrap, img, index) {
  let start = null;
  let box = null;
  const point = (ev) => {
    const r = img.getBoundingClientRect();
    return {
      x: Math.min(Math.max((ev.clientX - r.left) / r.width, 0), 1),
      y: Math.min(Math.max((ev.clientY - r.top) / r.height, 0), 1),
    };
  };
  img.addEventListener('mousedown', (ev) => {
    start = point(ev);
    box = document.createElement('div');
    box.className = 'box';
    const tag = document.createElement('span');
    tag.textContent = $('region-label').value;
    box.append(tag);
    wrap.append(box);
    ev.preventDefault();
  });
  window.addEventListener('mousemove', (ev) => {
    if (!start) return;
    const p = point(ev);
    Object.assign(box.style, {
      left: `${Math.min(start.x, p.x) * img.width}px`,
      top: `${Math.min(start.y, p.y) * img.height}px`,
      width: `${Math.abs(p.x - start.x) * img.width}px`,
      height: `${Math.abs(p.y - start.y) * img.height}px`,
    });
  });
  window.addEventListener('mouseup', (ev) => {
    if (!start) return;
    const p = point(ev);
    const region = {
      preview: index,
      label: $('region-label').value,
      x: Math.min(start.x, p.x),
      y: Math.min(start.y, p.y),
      width: Math.abs(p.x - start.x),
      height: Math.abs(p.y - start.y),
    };
    if (region.width > 0.005 && region.height > 0.005) regions.push(region);
    else box.remove();
    start = null;
  });
}

function currentLabels() {
  const type = claim.item.taskType;
  if (type === 'classification') return choice ? { label: choice } : null;
  if (type === 'free-text-finding')
    return { present: $('finding-present').checked, finding: $('finding-text').value };
  return { regions };
}

async function submit() {
  if (!claim) return;
  const labels = currentLabels();
  if (!labels) return setStatus('Choose a label first (keys 1–9).', true);
  try {
    const { result } = await api('POST', `/api/assignments/${claim.assignmentId}/submit`, { labels });
    clearItem();
    setStatus(
      result.status === 'open'
        ? 'Submitted. Press N for the next item.'
        : `Submitted; the item is now ${result.status}. Press N for the next item.`,
    );
    $('claim').focus();
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function skip() {
  if (!claim) return;
  const reason = prompt('Why skip this item?', 'not my specialty');
  if (!reason) return;
  try {
    await api('POST', `/api/assignments/${claim.assignmentId}/skip`, { reason });
    clearItem();
    setStatus('Skipped. Press N for the next item.');
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function release() {
  if (!claim) return;
  try {
    await api('POST', `/api/assignments/${claim.assignmentId}/release`);
    clearItem();
    setStatus('Released back to the queue.');
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function showStats() {
  try {
    const { queues } = await api('GET', '/api/stats/me');
    const fmt = (v) =>
      v === null || v === undefined
        ? '—'
        : typeof v === 'number' && v <= 1 && !Number.isInteger(v)
          ? `${Math.round(v * 100)}%`
          : String(v);
    $('stats-body').replaceChildren(
      ...Object.entries(queues).map(([q, s]) => {
        const tr = document.createElement('tr');
        const cells = [
          q,
          s?.submitted ?? 0,
          s?.skipped ?? 0,
          s?.medianSecondsPerItem,
          s?.gold?.accuracy,
          s?.pairwiseAgreement,
        ];
        for (const c of cells) {
          const td = document.createElement('td');
          td.textContent = fmt(c);
          tr.append(td);
        }
        return tr;
      }),
    );
    $('stats').hidden = false;
  } catch (e) {
    setStatus(e.message, true);
  }
}

$('signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('token').value.trim();
  signIn();
});
$('claim').addEventListener('click', claimNext);
$('label-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  submit();
});
$('skip').addEventListener('click', skip);
$('release').addEventListener('click', release);
$('refresh-stats').addEventListener('click', showStats);
$('region-clear').addEventListener('click', () => {
  regions = [];
  document.querySelectorAll('.box').forEach((b) => b.remove());
});
$('signout').addEventListener('click', () => {
  sessionStorage.removeItem('tributary-token');
  token = '';
  location.reload();
});
document.addEventListener('keydown', (ev) => {
  const typing =
    ev.target instanceof HTMLTextAreaElement ||
    (ev.target instanceof HTMLInputElement && ev.target.type !== 'checkbox');
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey || !me) return;
  const k = ev.key.toLowerCase();
  if (k === 'n') claimNext();
  else if (k === 's') skip();
  else if (k === 'r') release();
  else if (k === 'p' && claim?.item.taskType === 'free-text-finding') $('finding-present').click();
  else if (k === 'enter' && claim && ev.target.tagName !== 'BUTTON') submit();
  else if (/^[1-9]$/.test(k) && claim) {
    const c = claim.item.choices[Number(k) - 1];
    if (!c) return;
    if (claim.item.taskType === 'classification') choose(c);
    else if (claim.item.taskType === 'image-region') $('region-label').value = c;
  } else return;
  ev.preventDefault();
});
if (token) signIn();

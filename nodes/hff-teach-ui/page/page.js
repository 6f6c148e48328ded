// The teaching page: follows the node's Server-Sent Events, and sends the operator's commands as JSON. Plain
// browser JavaScript, no build step; every text from the flow is put in the page as text, never as HTML.
'use strict';
(function () {
  var state = {
    token: null,
    settings: { stripLength: 24, windowMinutes: 5 },
    strip: [],
    last: null,
    classes: [],
    close: [],
    stats: null,
    drift: null,
    recording: { recording: false, frames: [] },
    activity: [],
    modelState: '',
  };
  /** Selected frames (id -> frame view), kept when they leave the strip; `expired` marks those the node no longer has. */
  var selected = new Map();
  var expired = new Set();
  /** Per class, the last frames the model recognised as it (views), newest last. */
  var recent = {};
  var RECENT_PER_CLASS = 4;

  function $(id) {
    return document.getElementById(id);
  }

  /** A DOM element with attributes/properties and children (strings become text nodes). */
  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        var v = props[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') node.textContent = v;
        else if (k === 'className') node.className = v;
        else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  function frameUrl(id, kind) {
    return 'frames/' + encodeURIComponent(id) + '/' + kind;
  }
  /** What the model called a frame: 'was X' when it recognised it, '? X' (its best guess) when it did not. */
  function calledAs(label, known) {
    return (known ? 'was ' : '? ') + label;
  }
  function score(x) {
    return typeof x === 'number' ? x.toFixed(2) : '';
  }
  function time(t) {
    return new Date(t).toLocaleTimeString();
  }
  function when(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return isNaN(d.getTime()) ? '' : d.toLocaleString();
  }

  // ---- connection ----
  var source = null;
  var retryTimer = null;
  var retryDelay = 1000;

  function setConnection(text, kind) {
    var c = $('connection');
    c.textContent = text;
    c.className = 'chip chip-' + kind;
    document.body.setAttribute('data-connection', kind === 'ok' ? 'live' : 'down');
  }

  function connect() {
    if (retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = null;
    }
    source = new EventSource('events');
    source.addEventListener('state', function (e) {
      retryDelay = 1000;
      setConnection('live', 'ok');
      applyState(JSON.parse(e.data));
    });
    source.addEventListener('frame', function (e) {
      addFrame(JSON.parse(e.data));
    });
    source.addEventListener('stats', function (e) {
      state.stats = JSON.parse(e.data);
      renderCounts();
      renderClassFacts();
    });
    source.addEventListener('drift', function (e) {
      state.drift = JSON.parse(e.data);
      renderDrift();
    });
    source.addEventListener('classes', function (e) {
      applyClasses(JSON.parse(e.data));
    });
    source.addEventListener('recording', function (e) {
      state.recording = JSON.parse(e.data);
      renderRecording();
    });
    source.addEventListener('activity', function (e) {
      state.activity.push(JSON.parse(e.data));
      state.activity = state.activity.slice(-20);
      renderActivity();
    });
    source.onerror = function () {
      setConnection('reconnecting…', 'wait');
      // The browser retries by itself after a dropped stream; after a refused one (the node is being redeployed) it
      // gives up, so this page retries, less often the longer it fails.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        retryTimer = setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 10000);
      }
    };
  }

  function applyState(s) {
    if (state.token !== null && s.token !== state.token) {
      // A new session (restart or redeploy): frames selected before are gone on the node.
      selected.forEach(function (_f, id) {
        expired.add(id);
      });
    }
    state.token = s.token;
    document.body.setAttribute('data-session', s.token);
    state.settings = s.settings || state.settings;
    state.strip = s.strip || [];
    state.last = s.last || null;
    state.stats = s.stats;
    state.drift = s.drift;
    state.recording = s.recording || { recording: false, frames: [] };
    state.activity = s.activity || [];
    $('model-name').textContent = s.model || 'parts';
    document.title = 'Teach ' + (s.model || 'parts') + ' · HFF';
    $('window-minutes').textContent = String(state.settings.windowMinutes);
    recent = {};
    applyClasses(s);
    (s.classes || []).forEach(function (c) {
      recent[c.label] = (c.recent || []).slice();
    });
    renderLive();
    renderStrip();
    renderSelection();
    renderCounts();
    renderDrift();
    renderRecording();
    renderActivity();
    renderClasses();
  }

  function applyClasses(data) {
    state.classes = data.classes || [];
    state.close = data.close || [];
    state.modelState = data.modelState || '';
    var list = $('class-names');
    clear(list);
    state.classes.forEach(function (c) {
      list.appendChild(el('option', { value: c.label }));
    });
    renderClasses();
  }

  // ---- live frame and strip ----
  function addFrame(f) {
    state.last = f;
    state.strip.push(f);
    var over = state.strip.length - state.settings.stripLength;
    if (over > 0) state.strip.splice(0, over);
    if (f.known) {
      var list = recent[f.label] || (recent[f.label] = []);
      list.push(f);
      if (list.length > RECENT_PER_CLASS) list.shift();
      renderRecent(f.label);
    }
    renderLive();
    renderStrip();
  }

  var liveLoading = null;
  function renderLive() {
    var f = state.last;
    var img = $('live');
    var none = $('no-picture');
    if (!f) {
      img.hidden = true;
      none.hidden = false;
      none.textContent = 'waiting for frames…';
      renderPrediction(null);
      return;
    }
    renderPrediction(f);
    if (!f.picture) {
      img.hidden = true;
      none.hidden = false;
      none.textContent = 'no picture for these frames (vector input)';
      return;
    }
    var url = frameUrl(f.id, 'live');
    if (liveLoading === url) return;
    liveLoading = url;
    // Swapped in once loaded, so the view never blinks empty between frames.
    var next = new Image();
    next.onload = function () {
      if (liveLoading !== url) return;
      img.src = url;
      img.setAttribute('data-frame', f.id);
      img.classList.toggle('pixelated', next.naturalWidth < 200);
      img.hidden = false;
      none.hidden = true;
    };
    next.src = url;
  }

  function renderPrediction(f) {
    $('pred-label').textContent = f ? f.label : '—';
    $('pred-score').textContent = f ? 'score ' + score(f.score) : '';
    var k = $('pred-known');
    k.hidden = !f;
    if (f) {
      k.textContent = f.known ? 'known' : 'unknown';
      k.className = 'chip ' + (f.known ? 'chip-ok' : 'chip-warn');
    }
  }

  function frameButton(f) {
    var b = el(
      'button',
      {
        type: 'button',
        className: 'frame ' + (f.known ? 'known' : 'unknown'),
        role: 'option',
        'data-id': f.id,
        'aria-selected': selected.has(f.id) ? 'true' : 'false',
        title: f.label + ' ' + score(f.score) + (f.known ? '' : ' (unknown)') + ', ' + time(f.at),
        onclick: function () {
          toggle(f);
        },
      },
      f.picture
        ? el('img', { src: frameUrl(f.id, 'thumb'), alt: '', loading: 'lazy', draggable: 'false' })
        : el('span', { className: 'caption muted', text: 'no picture' }),
      el('span', { className: 'caption', text: (f.known ? '' : '? ') + f.label + ' ' + score(f.score) }),
    );
    return b;
  }

  function renderStrip() {
    var strip = $('strip');
    var atEnd = strip.scrollLeft + strip.clientWidth >= strip.scrollWidth - 100;
    var have = {};
    Array.prototype.forEach.call(strip.children, function (c) {
      have[c.getAttribute('data-id')] = c;
    });
    var wanted = {};
    state.strip.forEach(function (f) {
      wanted[f.id] = true;
    });
    Object.keys(have).forEach(function (id) {
      if (!wanted[id]) strip.removeChild(have[id]);
    });
    state.strip.forEach(function (f) {
      var b = have[f.id];
      if (!b) strip.appendChild(frameButton(f));
      else b.setAttribute('aria-selected', selected.has(f.id) ? 'true' : 'false');
    });
    $('strip-note').textContent = state.strip.length + ' frames, newest on the right; tap to select';
    if (atEnd) strip.scrollLeft = strip.scrollWidth;
  }

  // ---- selection ----
  function toggle(f) {
    if (selected.has(f.id)) selected.delete(f.id);
    else selected.set(f.id, f);
    expired.delete(f.id);
    renderStrip();
    renderSelection();
  }

  function renderSelection() {
    var box = $('selection');
    clear(box);
    selected.forEach(function (f, id) {
      var gone = expired.has(id);
      box.appendChild(
        el(
          'div',
          { className: 'thumb' + (gone ? ' expired' : ''), 'data-id': id },
          f.picture ? el('img', { src: frameUrl(id, 'thumb'), alt: '' }) : null,
          el('span', { className: 'caption', text: gone ? 'expired' : f.label }),
          el('button', {
            type: 'button',
            className: 'remove',
            'aria-label': 'remove from selection',
            text: '×',
            onclick: function () {
              selected.delete(id);
              expired.delete(id);
              renderSelection();
              renderStrip();
            },
          }),
        ),
      );
    });
    $('selected-count').textContent = String(selected.size) + (expired.size ? ' (' + expired.size + ' expired)' : '');
  }

  $('select-unknown').addEventListener('click', function () {
    state.strip.forEach(function (f) {
      if (!f.known) selected.set(f.id, f);
    });
    renderStrip();
    renderSelection();
  });
  $('clear-selection').addEventListener('click', function () {
    selected.clear();
    expired.clear();
    renderStrip();
    renderSelection();
  });

  // ---- record (hold) ----
  var holding = false;
  function startRecording(e) {
    if (e) e.preventDefault();
    if (holding) return;
    holding = true;
    $('record').setAttribute('aria-pressed', 'true');
    post('record', { on: true }).catch(showError);
  }
  function stopRecording() {
    if (!holding) return;
    holding = false;
    $('record').setAttribute('aria-pressed', 'false');
    post('record', { on: false })
      .then(function (r) {
        var byId = {};
        state.strip.forEach(function (f) {
          byId[f.id] = f;
        });
        (r.frames || []).forEach(function (id) {
          selected.set(id, byId[id] || { id: id, label: 'recorded', picture: true });
        });
        renderStrip();
        renderSelection();
        showInfo('Recorded ' + (r.frames || []).length + ' frames: they are selected. Name the part and press Teach.');
      })
      .catch(showError);
  }
  var rec = $('record');
  rec.addEventListener('pointerdown', function (e) {
    rec.setPointerCapture && rec.setPointerCapture(e.pointerId);
    startRecording(e);
  });
  rec.addEventListener('pointerup', stopRecording);
  rec.addEventListener('pointercancel', stopRecording);
  rec.addEventListener('lostpointercapture', stopRecording);
  rec.addEventListener('keydown', function (e) {
    if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) startRecording(e);
  });
  rec.addEventListener('keyup', function (e) {
    if (e.key === ' ' || e.key === 'Enter') stopRecording();
  });
  rec.addEventListener('contextmenu', function (e) {
    e.preventDefault();
  });
  window.addEventListener('blur', stopRecording);

  function renderRecording() {
    var r = state.recording;
    rec.textContent = r.recording ? '● Recording… ' + r.frames.length + ' frames' : '● Hold to record';
    rec.classList.toggle('active', !!r.recording);
  }

  // ---- commands ----
  function post(command, body) {
    return fetch(command, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    }).then(
      function (res) {
        return res.text().then(function (text) {
          var data;
          try {
            data = text ? JSON.parse(text) : {};
          } catch (e) {
            data = { error: text || res.statusText };
          }
          if (!res.ok) {
            var err = new Error(data.error || res.statusText || 'HTTP ' + res.status);
            err.details = data;
            throw err;
          }
          return data;
        });
      },
      function () {
        throw new Error('the node did not answer (is Node-RED running?); nothing was changed');
      },
    );
  }

  function showError(err) {
    var m = $('message');
    m.className = 'message';
    m.textContent = err.message;
    m.hidden = false;
    if (err.details && Array.isArray(err.details.expired)) {
      err.details.expired.forEach(function (id) {
        expired.add(id);
      });
      renderSelection();
    }
  }
  function showInfo(text) {
    var m = $('message');
    m.className = 'message info';
    m.textContent = text;
    m.hidden = false;
  }

  $('teach-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var label = $('class-name').value;
    var frames = Array.from(selected.keys());
    var taughtFrames = frames.map(function (id) {
      return selected.get(id);
    });
    var button = $('teach');
    button.disabled = true;
    $('message').hidden = true;
    post('teach', { label: label, frames: frames })
      .then(function (r) {
        showResult(r, taughtFrames);
        selected.clear();
        expired.clear();
        renderStrip();
        renderSelection();
      }, showError)
      .then(function () {
        button.disabled = false;
      });
  });

  function showResult(r, frames) {
    var box = $('result');
    clear(box);
    box.appendChild(
      el(
        'div',
        { className: 'result-title' },
        el('strong', { text: (r.created ? 'Created class ' : 'Updated class ') + '“' + r.label + '”' }),
        ' from ' +
          r.examples +
          ' frame' +
          (r.examples === 1 ? '' : 's') +
          ': it now holds ' +
          r.count +
          ' example' +
          (r.count === 1 ? '' : 's') +
          '; ' +
          r.recognised +
          ' of ' +
          r.examples +
          ' taught frames are now recognised as it.',
      ),
    );
    var thumbs = el('div', { className: 'thumbs' });
    frames.forEach(function (f) {
      thumbs.appendChild(
        el(
          'div',
          { className: 'thumb' },
          f.picture ? el('img', { src: frameUrl(f.id, 'thumb'), alt: '' }) : null,
          el('span', { className: 'caption', text: calledAs(f.label, f.known) }),
        ),
      );
    });
    box.appendChild(thumbs);
    (r.warnings || []).forEach(function (w) {
      box.appendChild(el('div', { className: 'warning', text: w }));
    });
    box.hidden = false;
  }

  // ---- classes ----
  function predictedCount(label) {
    var per = (state.stats && state.stats.perClass) || [];
    for (var i = 0; i < per.length; i++) if (per[i].label === label) return per[i].count;
    return 0;
  }

  function facts(c) {
    var parts = [c.examples + ' example' + (c.examples === 1 ? '' : 's')];
    if (c.taughtAt) parts.push('taught ' + when(c.taughtAt));
    if (c.updatedAt && c.updatedAt !== c.taughtAt) parts.push('last ' + when(c.updatedAt));
    parts.push('predicted ' + predictedCount(c.label) + '× in the last ' + state.settings.windowMinutes + ' min');
    return parts.join(' · ');
  }

  var editing = null;
  function renderClasses() {
    var box = $('classes');
    // A rename in progress keeps its text box: the list is redrawn when it is done.
    if (editing) return;
    clear(box);
    $('model-state').textContent = state.classes.length + ' classes' + (state.modelState && state.modelState !== 'ready' ? ' · model ' + state.modelState : '');
    var warn = $('close-warnings');
    clear(warn);
    state.close.forEach(function (p) {
      warn.appendChild(
        el('div', { className: 'warning', text: '“' + p.a + '” and “' + p.b + '” are too close to tell apart (prototype cosine ' + p.cosine.toFixed(2) + ')' }),
      );
    });
    var ordered = state.classes
      .filter(function (c) {
        return c.kind === 'taught';
      })
      .concat(
        state.classes.filter(function (c) {
          return c.kind !== 'taught';
        }),
      );
    ordered.forEach(function (c) {
      box.appendChild(classCard(c));
    });
    if (ordered.length === 0) box.appendChild(el('p', { className: 'muted', text: 'The model has no classes yet: teach one.' }));
  }

  function classCard(c) {
    var card = el('article', { className: 'card ' + c.kind, 'data-class': c.label });
    var actions = el(
      'div',
      { className: 'card-actions' },
      el('button', {
        type: 'button',
        className: 'small',
        text: 'Rename',
        onclick: function () {
          startRename(card, c);
        },
      }),
      el('button', {
        type: 'button',
        className: 'small danger',
        text: 'Forget',
        onclick: function () {
          confirmForget(card, c);
        },
      }),
    );
    card.appendChild(
      el(
        'div',
        { className: 'card-head' },
        el('span', { className: 'card-name', text: c.label }),
        el('span', { className: 'chip chip-kind', text: c.kind }),
        actions,
      ),
    );
    card.appendChild(el('div', { className: 'card-facts', text: facts(c) }));
    if (forgetting === c.label) card.appendChild(forgetRow(c));
    (c.warnings || []).forEach(function (w) {
      card.appendChild(el('div', { className: 'warning', text: w }));
    });
    if (c.gallery && c.gallery.length) {
      card.appendChild(el('div', { className: 'label', text: 'Taught from' }));
      var g = el('div', { className: 'thumbs gallery' });
      c.gallery.forEach(function (e) {
        g.appendChild(
          el(
            'div',
            { className: 'thumb' },
            el('img', { src: 'gallery/' + encodeURIComponent(e.file), alt: '' }),
            el('span', { className: 'caption', text: calledAs(e.calledAs, e.known) }),
          ),
        );
      });
      card.appendChild(g);
    }
    card.appendChild(el('div', { className: 'label', text: 'Recently recognised' }));
    card.appendChild(el('div', { className: 'thumbs recent' }));
    fillRecent(card, c.label);
    return card;
  }

  function fillRecent(card, label) {
    var box = card.querySelector('.recent');
    if (!box) return;
    clear(box);
    var list = recent[label] || [];
    list.forEach(function (f) {
      box.appendChild(
        el(
          'div',
          { className: 'thumb' },
          f.picture ? el('img', { src: frameUrl(f.id, 'thumb'), alt: '' }) : null,
          el('span', { className: 'caption', text: score(f.score) }),
        ),
      );
    });
    if (list.length === 0) box.appendChild(el('span', { className: 'muted', text: 'none yet' }));
  }

  function cardOf(label) {
    var cards = document.querySelectorAll('#classes .card');
    for (var i = 0; i < cards.length; i++) if (cards[i].getAttribute('data-class') === label) return cards[i];
    return null;
  }

  function renderRecent(label) {
    var card = cardOf(label);
    if (card) fillRecent(card, label);
  }

  function renderClassFacts() {
    state.classes.forEach(function (c) {
      var card = cardOf(c.label);
      var f = card && card.querySelector('.card-facts');
      if (f) f.textContent = facts(c);
    });
  }

  function startRename(card, c) {
    editing = c.label;
    var input = el('input', { value: c.label, 'aria-label': 'new name for ' + c.label, className: 'rename-input' });
    var form = el(
      'form',
      { className: 'row rename' },
      input,
      el('button', { type: 'submit', className: 'small primary', text: 'Save' }),
      el('button', {
        type: 'button',
        className: 'small',
        text: 'Cancel',
        onclick: function () {
          editing = null;
          renderClasses();
        },
      }),
    );
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      post('rename', { label: c.label, to: input.value }).then(function (r) {
        editing = null;
        recent[r.label] = recent[r.previous];
        delete recent[r.previous];
        showInfo('Renamed “' + r.previous + '” to “' + r.label + '”.');
        renderClasses();
      }, showError);
    });
    card.appendChild(form);
    input.focus();
    input.select();
  }

  /** The class whose Forget waits for a yes or no (kept when the list is redrawn meanwhile). */
  var forgetting = null;
  function confirmForget(card, c) {
    forgetting = c.label;
    renderClasses();
  }

  function forgetRow(c) {
    return el(
      'div',
      { className: 'row confirm' },
      el('span', { text: 'Forget “' + c.label + '” and its ' + c.examples + ' examples?' }),
      el('button', {
        type: 'button',
        className: 'small danger',
        text: 'Yes, forget',
        onclick: function () {
          forgetting = null;
          post('forget', { label: c.label }).then(function (r) {
            showInfo('Forgot “' + r.label + '”.');
          }, showError);
        },
      }),
      el('button', {
        type: 'button',
        className: 'small',
        text: 'No',
        onclick: function () {
          forgetting = null;
          renderClasses();
        },
      }),
    );
  }

  // ---- quality ----
  function renderCounts() {
    var box = $('counts');
    clear(box);
    var s = state.stats;
    if (!s) return;
    $('frames-total').textContent = s.frames + ' frames';
    var rows = s.perClass.slice();
    if (s.unknown > 0) rows.push({ label: 'unknown', count: s.unknown, unknown: true });
    var max = rows.reduce(function (m, r) {
      return Math.max(m, r.count);
    }, 1);
    rows.forEach(function (r) {
      box.appendChild(el('span', { className: r.unknown ? 'muted' : '', text: r.label }));
      box.appendChild(
        el('div', {}, el('div', { className: 'bar' + (r.unknown ? ' unknown' : ''), style: 'width:' + Math.max(1, Math.round((100 * r.count) / max)) + '%' })),
      );
      box.appendChild(el('span', { className: 'n', text: String(r.count) }));
    });
    if (rows.length === 0) box.appendChild(el('span', { className: 'muted', text: 'no frames yet' }));
  }

  function renderDrift() {
    var d = state.drift;
    var chip = $('drift');
    if (!d) {
      chip.hidden = true;
      return;
    }
    chip.hidden = false;
    chip.textContent = 'drift: ' + d.state + (d.drifts ? ' (' + d.drifts + ')' : '');
    chip.className = 'chip ' + (d.state === 'drift' ? 'chip-bad' : d.state === 'warning' ? 'chip-warn' : 'chip-ok');
    chip.title = (d.detector || 'drift monitor') + ', ' + d.n + ' values';
  }

  function renderActivity() {
    var list = $('activity');
    clear(list);
    state.activity
      .slice()
      .reverse()
      .forEach(function (a) {
        list.appendChild(el('li', { className: a.level === 'warning' ? 'warning' : '' }, el('time', { text: time(a.at) }), a.text));
      });
    if (state.activity.length === 0) list.appendChild(el('li', { className: 'muted', text: 'nothing taught yet' }));
  }

  connect();
})();

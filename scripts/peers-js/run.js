// Runs essentia.js 0.1.3 (RhythmExtractor2013, PercivalBpmEstimator) and
// music-tempo 1.0.3 on 44.1 kHz mono float32 LE raws, all default options.
// Usage: (cd scripts/peers-js && npm install) then
//   node scripts/peers-js/run.js RAWDIR OUT.jsonl [id ...]
// where RAWDIR holds <id>.f32 made by
//   ffmpeg -v error -i AUDIO -ac 1 -ar 44100 -f f32le RAWDIR/<id>.f32
// Without ids: every RAWDIR/*.f32, sequentially. One JSON line per piece.
'use strict';
const fs = require('fs');
const path = require('path');
const { Essentia, EssentiaWASM } = require('essentia.js');
const MusicTempo = require('music-tempo');

const [rawDir, outPath, ...ids0] = process.argv.slice(2);
const ids = ids0.length ? ids0
  : fs.readdirSync(rawDir).filter(f => f.endsWith('.f32')).map(f => f.slice(0, -4)).sort();

const essentia = new Essentia(EssentiaWASM);
const heapMB = () => (EssentiaWASM.HEAP8 ? EssentiaWASM.HEAP8.length / 2 ** 20 : NaN);
console.error(`essentia ${essentia.version}, ${ids.length} pieces, wasm heap ${heapMB()} MB`);

function loadF32(file) {
  const buf = fs.readFileSync(file);
  // copy into an aligned Float32Array (little-endian host)
  const out = new Float32Array(buf.length / 4);
  new Uint8Array(out.buffer).set(buf.subarray(0, out.length * 4));
  return out;
}

function safeDelete(v) { try { if (v && typeof v.delete === 'function') v.delete(); } catch (e) { } }

const out = fs.openSync(outPath, 'a');
for (const id of ids) {
  const rec = { id };
  let audio;
  try {
    audio = loadF32(path.join(rawDir, id + '.f32'));
    rec.duration_s = +(audio.length / 44100).toFixed(2);
  } catch (e) { rec.load_error = String(e); fs.writeSync(out, JSON.stringify(rec) + '\n'); continue; }

  // (a) RhythmExtractor2013, defaults: maxTempo=208, method='multifeature', minTempo=40
  let vec = null, res = null, t0 = Date.now();
  try {
    vec = essentia.arrayToVector(audio);
    res = essentia.RhythmExtractor2013(vec);
    rec.re2013_bpm = res.bpm;
    rec.re2013_conf = res.confidence;
  } catch (e) { rec.re2013_error = String(e && e.message || e); }
  finally {
    if (res) for (const k of ['ticks', 'estimates', 'bpmIntervals']) safeDelete(res[k]);
    safeDelete(vec); vec = null; res = null;
  }
  rec.re2013_ms = Date.now() - t0;

  // (b) PercivalBpmEstimator, defaults: frameSize=1024, frameSizeOSS=2048, hopSize=128,
  //     hopSizeOSS=128, maxBPM=210, minBPM=50, sampleRate=44100
  t0 = Date.now();
  try {
    vec = essentia.arrayToVector(audio);
    res = essentia.PercivalBpmEstimator(vec);
    rec.percival_bpm = res.bpm;
  } catch (e) { rec.percival_error = String(e && e.message || e); }
  finally { safeDelete(vec); vec = null; res = null; }
  rec.percival_ms = Date.now() - t0;

  // (c) music-tempo, default params (hopSize 441 / bufferSize 2048 assume 44.1 kHz)
  t0 = Date.now();
  try {
    const mt = new MusicTempo(audio);
    rec.musictempo_bpm = Number(mt.tempo);
  } catch (e) { rec.musictempo_error = String(e && e.message || e); }
  rec.musictempo_ms = Date.now() - t0;

  rec.heap_mb = heapMB();
  fs.writeSync(out, JSON.stringify(rec) + '\n');
  console.error(JSON.stringify(rec));
}
fs.closeSync(out);

// Times ONNX files against the first one in onnxruntime-node, in one process, interleaved
// (so load drifts hit every file alike): the ratio a user checks for "is INT8 faster here".
// usage: node scripts/node/ort_speed.js DIMS MODEL... [--runs N] [--threads T]
//   DIMS: the first input's shape, e.g. 1x3x320x320 (float32, seeded uniform [0, 1)).
// Prints, per file, the median ms after 5 warm-up runs and the speed-up over the first file.
'use strict';
const ort = require('onnxruntime-node');

function option(args, name, fallback) {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
  return v;
}

(async () => {
  const args = process.argv.slice(2);
  const runs = option(args, '--runs', 60), threads = option(args, '--threads', 2);
  if (args.length < 2) throw new Error('usage: node ort_speed.js DIMS MODEL... [--runs N] [--threads T]');
  const dims = args[0].split('x').map(Number);
  if (dims.some(d => !Number.isInteger(d) || d < 1)) throw new Error(`DIMS '${args[0]}' is not like 1x3x224x224`);
  const files = args.slice(1);
  let seed = 1;
  const data = Float32Array.from({length: dims.reduce((a, b) => a * b, 1)}, () => ((seed = (seed * 16807) % 2147483647) / 2147483647));
  const sessions = [];
  for (const f of files) sessions.push(await ort.InferenceSession.create(f, {intraOpNumThreads: threads, graphOptimizationLevel: 'all'}));
  const times = files.map(() => []);
  for (let r = 0; r < runs + 5; ++r)
    for (let i = 0; i < sessions.length; ++i) {
      const feeds = {[sessions[i].inputNames[0]]: new ort.Tensor('float32', data, dims)};
      const start = process.hrtime.bigint();
      await sessions[i].run(feeds);
      if (r >= 5) times[i].push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  const median = t => t.slice().sort((a, b) => a - b)[Math.floor(t.length / 2)];
  const base = median(times[0]);
  files.forEach((f, i) => console.log(`${f}: ${median(times[i]).toFixed(2)} ms, ${(base / median(times[i])).toFixed(2)}x vs ${files[0]}`));
})().catch(e => { console.error(`ort_speed: ${e.message}`); process.exit(2); });

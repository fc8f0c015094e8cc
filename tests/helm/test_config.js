'use strict';
/*
 * The configuration the chart renders is one the binary accepts: every
 * conveyor*.cfg of the ConfigMap, with the default values and with every
 * example, loads in `conveyor -c FILE topology check` (unknown keys, wrong
 * types and values out of range fail there with file:line), together with
 * the ConfigMap's topology. The schemas come from the repository (in a pod,
 * from the image, at config.schemas.dir).
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {spawnSync} = require('node:child_process');
const lib = require('./lib.js');

const BIN = process.env.CONVEYOR_BIN || path.join(lib.ROOT, 'build/conveyor');
if (!fs.existsSync(BIN)) {
    console.error(`no conveyor binary at ${BIN} (set CONVEYOR_BIN)`);
    process.exit(1);
}

for (const f of [null, ...lib.EXAMPLES]) {
    test(`conveyor accepts the configuration rendered with ${f ? path.basename(f) : 'the default values'}`, () => {
        const files = lib.configFiles(lib.render({files: f ? [f] : []}));
        const dir = fs.mkdtempSync(path.join(lib.tmpDir(), 'cfg-'));
        for (const [name, text] of Object.entries(files))
            fs.writeFileSync(path.join(dir, name), text);
        const cfgs = Object.keys(files).filter((n) => n.endsWith('.cfg') && n !== 'topology.cfg');
        assert.ok(cfgs.includes('conveyor.cfg'));
        for (const name of cfgs) {
            const env = {...process.env, CONVEYOR_SCHEMAS: path.join(lib.ROOT, 'schemas'),
                         CONVEYOR_TOPOLOGY: path.join(dir, 'topology.cfg')};
            for (const k of ['CONVEYOR_CONFIG', 'DATABASE_URL', 'CONVEYOR_KAFKA_BROKERS', 'CONVEYOR_LOG_LEVEL'])
                delete env[k];
            const r = spawnSync(BIN, ['-c', path.join(dir, name), 'topology', 'check'], {encoding: 'utf8', env});
            assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
            assert.match(r.stdout, /topology\.cfg: ok \(/);
        }
    });
}

'use strict';
/* helm lint --strict with the default values and with every example values
 * file: a lint warning fails. */
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const lib = require('./lib.js');

for (const f of [null, ...lib.EXAMPLES]) {
    test(`helm lint --strict with ${f ? path.basename(f) : 'the default values'}`, () => {
        const r = lib.helm(['lint', '--strict', '--kube-version', lib.KUBE_VERSION, lib.CHART,
                            ...(f ? ['-f', f] : [])]);
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/, r.stdout);
    });
}

test('Chart.yaml appVersion is the version CMakeLists.txt builds', () => {
    const fs = require('node:fs');
    const cmake = fs.readFileSync(path.join(lib.ROOT, 'CMakeLists.txt'), 'utf8');
    const version = /project\(conveyor VERSION ([0-9.]+)/.exec(cmake)[1];
    const chart = fs.readFileSync(path.join(lib.CHART, 'Chart.yaml'), 'utf8');
    assert.match(chart, new RegExp(`^appVersion: "${version.replace(/\./g, '\\.')}"$`, 'm'));
});

test('the chart\'s default topology is the repository\'s', () => {
    const fs = require('node:fs');
    assert.equal(fs.readFileSync(path.join(lib.CHART, 'files/topology.cfg'), 'utf8'),
                 fs.readFileSync(path.join(lib.ROOT, 'topology/marketplace.cfg'), 'utf8'));
});

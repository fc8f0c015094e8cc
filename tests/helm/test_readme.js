'use strict';
/* helm/conveyor/README.md lists every key of values.yaml as the generator
 * makes it from the "# -- " comments, and no key lacks one. */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const {generate, splice, README} = require('./values-doc.js');

test('the README\'s values table is generated from values.yaml', () => {
    const {table, missing} = generate();
    assert.deepEqual(missing, [], 'values.yaml keys without a "# -- " description');
    const readme = fs.readFileSync(README, 'utf8');
    assert.equal(splice(readme, table), readme,
                 'the table differs from values.yaml: run node tests/helm/values-doc.js --write');
});

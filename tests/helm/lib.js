'use strict';
/*
 * Shared by the chart's tests: where things are, helm, and the rendered
 * objects. Everything runs offline: helm and the schemas come from
 * node_modules (scripts/install-helm.sh), nothing is fetched at test time.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const {spawnSync} = require('node:child_process');
const {parseAll} = require('./validate.js');

const ROOT = process.env.CONVEYOR_SOURCE_DIR || path.resolve(__dirname, '../..');
const CHART = path.join(ROOT, 'helm/conveyor');
const HELM = path.join(__dirname, 'node_modules/.bin/helm');
const EXAMPLES = fs.readdirSync(path.join(CHART, 'examples'))
    .filter((f) => f.endsWith('.yaml')).sort()
    .map((f) => path.join(CHART, 'examples', f));
const OPTIONAL_APIS = ['--api-versions', 'monitoring.coreos.com/v1',
                       '--api-versions', 'keda.sh/v1alpha1'];
const RELEASE = 'conveyor-test';
const NAMESPACE = 'jobs';
const KUBE_VERSION = '1.33.0';

if (!fs.existsSync(HELM)) {
    console.error(`no helm at ${HELM}: run scripts/install-deps.sh (or scripts/install-helm.sh)`);
    process.exit(1);
}

/* Runs helm; returns {status, stdout, stderr}. */
function helm(args) {
    const r = spawnSync(HELM, args, {encoding: 'utf8', maxBuffer: 64 << 20});
    if (r.error)
        throw r.error;
    return r;
}

/* A temporary directory for this process, removed when it exits. */
let tmp = null;
function tmpDir() {
    if (!tmp) {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-helm-'));
        process.on('exit', () => fs.rmSync(tmp, {recursive: true, force: true}));
    }
    return tmp;
}

/* Writes values to a temporary file and returns its path. */
let nfiles = 0;
function valuesFile(values) {
    const f = path.join(tmpDir(), `values-${++nfiles}.json`);
    fs.writeFileSync(f, JSON.stringify(values));
    return f;
}

/*
 * helm template with value files (paths), extra values (objects) and
 * options; returns {status, stderr, docs} (docs: the parsed objects).
 */
function template({files = [], values = [], apis = true, extra = []} = {}) {
    const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE,
                  '--kube-version', KUBE_VERSION];
    for (const f of files)
        args.push('-f', f);
    for (const v of values)
        args.push('-f', valuesFile(v));
    if (apis)
        args.push(...OPTIONAL_APIS);
    args.push(...extra);
    const r = helm(args);
    return {status: r.status, stderr: r.stderr, stdout: r.stdout,
            docs: r.status === 0 ? parseAll(r.stdout) : []};
}

/* Renders or throws with helm's error. */
function render(opts) {
    const r = template(opts);
    if (r.status !== 0)
        throw new Error(`helm template failed: ${r.stderr}`);
    return r.docs;
}

const byKind = (docs, kind) => docs.filter((d) => d.kind === kind);
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

/* The Deployments of domain groups (all but the ticker). */
function domainDeployments(docs) {
    return byKind(docs, 'Deployment').filter(
        (d) => d.metadata.labels['app.kubernetes.io/component'] !== 'ticker');
}

/* The values of --domain in a container's args. */
function domainsOf(deployment) {
    const args = deployment.spec.template.spec.containers[0].args;
    const out = [];
    for (let i = 0; i < args.length; i++)
        if (args[i] === '--domain')
            out.push(args[i + 1]);
    return out;
}

/* Every container of every pod template (Deployments and Jobs). */
function containers(docs) {
    return docs.filter((d) => d.kind === 'Deployment' || d.kind === 'Job')
        .flatMap((d) => d.spec.template.spec.containers.map((c) => ({owner: d, c})));
}

/* Does selector (matchLabels) select labels? */
const selects = (sel, labels) =>
    Object.entries(sel).every(([k, v]) => labels && labels[k] === v);

/* The domains of a topology text, with the slowest handler timeout of
 * each (retry.timeout_ms at domain or route level; 30000 by default). */
function topologyDomains(text) {
    const body = text.replace(/#[^\n]*/g, '');
    const start = body.search(/\bdomains\s*=\s*\(/);
    if (start < 0)
        throw new Error('no domains list in the topology');
    /* the list's extent, by parenthesis depth */
    let depth = 0, i = body.indexOf('(', start), end = -1;
    for (; i < body.length; i++) {
        if (body[i] === '(') depth++;
        else if (body[i] === ')' && --depth === 0) { end = i; break; }
    }
    const list = body.slice(body.indexOf('(', start) + 1, end);
    /* top-level { ... } entries of the list */
    const entries = [];
    depth = 0;
    let from = -1;
    for (let j = 0; j < list.length; j++) {
        if (list[j] === '{') { if (depth++ === 0) from = j; }
        else if (list[j] === '}' && --depth === 0) entries.push(list.slice(from, j + 1));
    }
    return entries.map((e) => {
        const name = /\bname\s*=\s*"([^"]+)"/.exec(e)[1];
        const timeouts = [...e.matchAll(/\btimeout_ms\s*=\s*(\d+)/g)].map((m) => Number(m[1]));
        return {name, slowestTimeoutMs: Math.max(30000, ...timeouts)};
    });
}

/* The configuration files of the rendered ConfigMap, name -> text. */
function configFiles(docs) {
    const cms = byKind(docs, 'ConfigMap');
    if (cms.length !== 1)
        throw new Error(`expected one ConfigMap, got ${cms.length}`);
    return cms[0].data;
}

/* A setting of a rendered conveyor.cfg, e.g. ('consumer', 'shutdown_timeout_ms'). */
function cfgSetting(text, section, key) {
    const sec = new RegExp(`^${section} = \\{([^}]*)\\};`, 'm').exec(text);
    if (!sec)
        return undefined;
    const m = new RegExp(`^\\s*${key} = ([^;]*);`, 'm').exec(sec[1]);
    return m ? m[1] : undefined;
}

module.exports = {
    ROOT, CHART, HELM, EXAMPLES, OPTIONAL_APIS, RELEASE, NAMESPACE, KUBE_VERSION,
    helm, template, render, valuesFile, tmpDir, byKind, sha256, domainDeployments,
    domainsOf, containers, selects, topologyDomains, configFiles, cfgSetting,
};

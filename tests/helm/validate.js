'use strict';
/*
 * Offline validation of rendered Kubernetes objects against the API
 * schemas that kubernetes-models ships (Kubernetes itself, the Prometheus
 * Operator, KEDA), with no cluster and no download.
 *
 * The schemas check types, required fields, enums and formats. They do not
 * refuse an unknown field (the API server drops one with a warning), which
 * is how a misspelt key in a template goes unnoticed, so validation also
 * watches which properties the compiled validator reads on each object:
 * a key it never reads is a field the schema does not have. Objects whose
 * schema is free-form (nothing read, keys not enumerated) are not judged.
 *
 *   node validate.js FILE...      validates every document, exit 1 on errors
 */
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

/* apiVersion -> module prefix of the model classes */
function modelPath(apiVersion, kind) {
    const [group, version] = apiVersion.includes('/')
        ? apiVersion.split('/')
        : ['', apiVersion];
    if (group === 'monitoring.coreos.com')
        return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
    if (group === 'keda.sh')
        return `@kubernetes-models/keda/${group}/${version}/${kind}`;
    return group ? `kubernetes-models/${group}/${version}/${kind}`
                 : `kubernetes-models/${version}/${kind}`;
}

function loadModel(apiVersion, kind) {
    const p = modelPath(apiVersion, kind);
    let mod;
    try {
        mod = require(p);
    } catch (e) {
        if (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED')
            return null;
        throw e;
    }
    return mod[kind] || null;
}

/* Wraps value so that every property read is recorded per object. */
function track(value, where, records) {
    if (value === null || typeof value !== 'object')
        return value;
    const rec = {where, obj: value, read: new Set(), enumerated: false};
    records.push(rec);
    const children = new Map();
    return new Proxy(value, {
        get(target, key, receiver) {
            const v = Reflect.get(target, key, receiver);
            if (typeof key !== 'string')
                return v;
            rec.read.add(key);
            if (v === null || typeof v !== 'object' ||
                !Object.prototype.hasOwnProperty.call(target, key))
                return v;
            if (!children.has(key))
                children.set(key, track(v, `${where}/${key}`, records));
            return children.get(key);
        },
        has(target, key) {
            if (typeof key === 'string')
                rec.read.add(key);
            return Reflect.has(target, key);
        },
        ownKeys(target) {
            rec.enumerated = true;
            return Reflect.ownKeys(target);
        },
        getOwnPropertyDescriptor(target, key) {
            if (typeof key === 'string')
                rec.read.add(key);
            return Reflect.getOwnPropertyDescriptor(target, key);
        },
    });
}

/* Returns a list of error strings for one object (empty: valid). */
function validateObject(obj) {
    const name = `${obj && obj.kind}/${obj && obj.metadata && obj.metadata.name}`;
    if (!obj || typeof obj !== 'object' || !obj.apiVersion || !obj.kind)
        return [`${name}: not a Kubernetes object (apiVersion and kind)`];
    const Model = loadModel(obj.apiVersion, obj.kind);
    if (!Model)
        return [`${name}: no schema for ${obj.apiVersion} ${obj.kind}: cannot validate it offline`];
    const errors = [];
    const records = [];
    const proxied = track(obj, '', records);
    try {
        Model.prototype.validate.call(proxied);
    } catch (e) {
        errors.push(`${name}: ${e.message}`);
    }
    for (const rec of records) {
        if (Array.isArray(rec.obj) || rec.enumerated || rec.read.size === 0)
            continue;
        for (const key of Object.keys(rec.obj))
            if (!rec.read.has(key))
                errors.push(`${name}: ${rec.where}/${key}: unknown field`);
    }
    return errors;
}

function validateDocuments(docs) {
    return docs.flatMap(validateObject);
}

function parseAll(text) {
    return YAML.parseAllDocuments(text)
        .map((d) => {
            if (d.errors.length)
                throw new Error(d.errors.map(String).join('; '));
            return d.toJS();
        })
        .filter((d) => d !== null);
}

module.exports = {validateObject, validateDocuments, parseAll};

if (require.main === module) {
    let bad = 0;
    for (const f of process.argv.slice(2)) {
        const errors = validateDocuments(parseAll(fs.readFileSync(f, 'utf8')));
        for (const e of errors)
            console.error(`${path.basename(f)}: ${e}`);
        bad += errors.length;
    }
    process.exit(bad ? 1 : 0);
}

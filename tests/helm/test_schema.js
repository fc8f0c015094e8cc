'use strict';
/*
 * Wrong values are refused before anything is applied, with a message that
 * names them: by values.schema.json (types, bounds, unknown keys) or by the
 * chart's own rules (_validate.tpl: values that only make sense together,
 * secrets as plain values). The schema, values.yaml and the reference
 * configuration (config/conveyor.cfg) describe the same keys.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const lib = require('./lib.js');

const schema = JSON.parse(fs.readFileSync(path.join(lib.CHART, 'values.schema.json'), 'utf8'));
const defaults = YAML.parse(fs.readFileSync(path.join(lib.CHART, 'values.yaml'), 'utf8'));
const group = (extra) => ({domainGroups: [{name: 'all', domains: ['leads', 'verification', 'jobs'],
                                           terminationGracePeriodSeconds: 660,
                                           config: {consumer: {shutdown_timeout_ms: 600000}}, ...extra}]});

const refused = [
    ['a replica count that is not a number', [{domainGroups: [{name: 'leads', domains: ['leads'], replicas: 'two'}]}],
     /domainGroups\/0\/replicas': got string, want integer/],
    ['a database URL as a value', [{database: {url: 'postgresql://u:p@db/x'}}],
     /at '\/database': additional properties 'url' not allowed/],
    ['a conninfo in the config', [{config: {postgres: {conninfo: 'host=db password=p'}}}],
     /at '\/config\/postgres': additional properties 'conninfo' not allowed/],
    ['an unknown config key', [{config: {consumer: {batch: 5}}}],
     /additional properties 'batch' not allowed/],
    ['a shutdown timeout out of range', [{config: {consumer: {shutdown_timeout_ms: 700000}}}],
     /shutdown_timeout_ms': maximum: got 700,000, want 600,000/],
    ['an unknown log level', [{config: {log: {level: 'verbose'}}}],
     /at '\/config\/log\/level': value must be one of/],
    ['a group name that is no DNS label', [{domainGroups: [{name: 'Leads_1', domains: ['leads']}]}],
     /domainGroups\/0\/name': .*does not match pattern/],
    ['a group without domains', [{domainGroups: [{name: 'leads'}]}],
     /missing property 'domains'/],
    ['autoscaling without the partition count', [group({autoscaling: {enabled: true}})],
     /autoscaling': missing property 'partitions'/],
    ['an image digest that is a tag', [{image: {digest: 'latest'}}],
     /image\/digest': .*does not match pattern/],
    ['no database Secret', [{database: {existingSecret: ''}}],
     /database\/existingSecret': minLength/],
    ['no Kafka brokers', [{kafka: {brokers: ''}}],
     /kafka\/brokers': minLength/],
    ['a domain in two Deployments', [{domainGroups: [{name: 'a', domains: ['leads', 'jobs']},
                                                     {name: 'b', domains: ['leads', 'verification']}]}],
     /domain "leads" is also in domain group "a"; each domain must run in exactly one Deployment/],
    ['a domain the topology does not have', [{domainGroups: [{name: 'a', domains: ['leadz']}]}],
     /domain "leadz" is not in the topology/],
    ['two groups of one name', [{domainGroups: [{name: 'a', domains: ['leads']}, {name: 'a', domains: ['jobs']}]}],
     /another domain group is named "a"/],
    ['a group named like the ticker', [{domainGroups: [{name: 'ticker', domains: ['leads']}]}],
     /the name "ticker" is taken/],
    ['a grace period below the shutdown timeout', [{terminationGracePeriodSeconds: 30}],
     /terminationGracePeriodSeconds \(30\) must be above (config\.)?consumer.shutdown_timeout_ms \(35000 ms\)/],
    ['a group grace period below its shutdown timeout', [group({terminationGracePeriodSeconds: 120})],
     /terminationGracePeriodSeconds \(120\) must be above consumer.shutdown_timeout_ms \(600000 ms\)/],
    ['more replicas than partitions', [group({autoscaling: {enabled: true, partitions: 8, maxReplicas: 12}})],
     /autoscaling.maxReplicas \(12\) exceeds autoscaling.partitions \(8\)/],
    ['a SASL password in the Kafka properties', [{kafka: {properties: {'sasl.password': 'hunter2'}}}],
     /kafka.properties.sasl.password holds a secret/],
    ['an inline TLS key in the Kafka properties', [{kafka: {properties: {'ssl.key.pem': '-----BEGIN'}}}],
     /kafka.properties.ssl.key.pem holds a secret/],
    ['the brokers as a Kafka property', [{kafka: {properties: {'bootstrap.servers': 'k:9092'}}}],
     /kafka.properties.bootstrap.servers: give the brokers in kafka.brokers/],
    ['a database URL in extraEnv', [{extraEnv: [{name: 'DATABASE_URL', value: 'postgresql://u:p@db/x'}]}],
     /extraEnv\[0\] \(DATABASE_URL\): a secret must not be a plain value/],
    ['an API key in a group\'s extraEnv', [group({extraEnv: [{name: 'STRIPE_SECRET_KEY', value: 'sk_live_x'}]})],
     /extraEnv\[0\] \(STRIPE_SECRET_KEY\): a secret must not be a plain value/],
    ['a password in the ticker\'s extraEnv', [{ticker: {extraEnv: [{name: 'PGPASSWORD', value: 'p'}]}}],
     /ticker.extraEnv\[0\] \(PGPASSWORD\): a secret must not be a plain value/],
];

for (const [what, values, message] of refused) {
    test(`refused: ${what}`, () => {
        const r = lib.template({values});
        assert.notEqual(r.status, 0, `rendered although ${what}`);
        assert.match(r.stderr, message);
        /* a refused secret is not echoed back */
        assert.doesNotMatch(r.stderr, /hunter2|sk_live_x|u:p@db/);
    });
}

test('accepted: a secret from a Secret in extraEnv, a plain setting that only looks alike', () => {
    lib.render({values: [{extraEnv: [
        {name: 'PGPASSWORD', valueFrom: {secretKeyRef: {name: 's', key: 'k'}}},
        {name: 'EMAIL_VERIFICATION_KILL_SWITCH', value: 'false'}]}]});
});

/* Leaf paths of a values tree; the items of a list of maps as NAME[].KEY. */
function leaves(v, prefix = '', out = []) {
    if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
        out.push(prefix);
        for (const item of v)
            leaves(item, `${prefix}[]`, out);
    } else if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length) {
        for (const [k, x] of Object.entries(v))
            leaves(x, prefix ? `${prefix}.${k}` : k, out);
    } else {
        out.push(prefix);
    }
    return [...new Set(out)];
}

/* The schema node of a leaf path, or null: stops at free-form objects. */
function schemaAt(p) {
    let node = schema;
    for (const part of p.split('.')) {
        const [key, ...items] = part.split('[]');
        if (!node.properties)
            return node.type === 'object' || node.type === 'array' ? node : null;
        node = node.properties[key];
        if (!node)
            return null;
        for (let i = 0; i < items.length; i++)
            node = node.items || null;
        if (!node)
            return null;
    }
    return node;
}

test('every key of values.yaml is in values.schema.json, with a description or a type', () => {
    for (const p of leaves(defaults)) {
        const node = schemaAt(p);
        assert.ok(node, `values.yaml has ${p}, values.schema.json does not`);
        assert.ok(node.type || node.description, `${p}: no type in the schema`);
    }
    for (const k of Object.keys(schema.properties))
        assert.ok(k === 'global' || k in defaults, `values.schema.json has ${k}, values.yaml does not`);
    assert.equal(schema.additionalProperties, false);
});

test('the defaults pass the schema: helm template renders them', () => {
    lib.render();
});

test('the config keys are those of config/conveyor.cfg', () => {
    /* keys the chart sets itself, or takes from elsewhere than values.config */
    const owned = new Set(['kafka.brokers', 'kafka.properties', 'postgres.conninfo', 'topology.path',
                           'http.listen', 'ticker.clock']);
    const ref = fs.readFileSync(path.join(lib.ROOT, 'config/conveyor.cfg'), 'utf8').replace(/#[^\n]*/g, '');
    const keys = [];
    let section = null;
    for (const line of ref.split('\n')) {
        let m;
        if ((m = /^(\w+) = \{/.exec(line)))
            section = m[1];
        else if (/^\};/.test(line))
            section = null;
        else if (section && (m = /^\s+(\w+) = /.exec(line)))
            keys.push(`${section}.${m[1]}`);
    }
    assert.ok(keys.length > 10, 'config/conveyor.cfg did not parse');
    const inSchema = [];
    for (const [sec, node] of Object.entries(schema.properties.config.properties))
        for (const k of Object.keys(node.properties))
            inSchema.push(`${sec}.${k}`);
    for (const k of keys)
        assert.ok(owned.has(k) || inSchema.includes(k),
                  `config/conveyor.cfg has ${k}: add it to values.schema.json (config) and values.yaml, or to the keys the chart owns`);
    for (const k of inSchema)
        assert.ok(keys.includes(k), `values.schema.json has config ${k}, config/conveyor.cfg does not`);
});

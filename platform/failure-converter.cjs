// Loaded by path (failureConverterPath) by clients, workers and the workflow sandbox, so it is plain CommonJS that
// needs no TypeScript loader. encodeCommonAttributes moves failure messages and stack traces into an encoded
// payload, so the payload codec encrypts them like any other payload.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });

import { Ajv, type Options } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Request validation with two Ajv instances instead of Fastify's one:
 * - bodies are validated as sent: no type coercion (a string is not silently a number, a list
 *   or a boolean), unknown fields refused (schemas say additionalProperties: false);
 * - query strings, path parameters and headers arrive as text and are coerced to the schema's
 *   types (a single value becomes a one-item array for repeatable filters).
 * allErrors: a client learns every offending field at once (bodies are size-limited).
 */
const COMMON: Options = {
  allErrors: true,
  removeAdditional: false,
  useDefaults: true,
  // TypeBox emits only standard keywords; unknown ones would be a bug worth failing on.
  strict: true,
};

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function addFormats(ajv: Ajv): Ajv {
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)),
  });
  // Deliberately loose (local@domain.tld): deliverability is the mail server's to judge.
  ajv.addFormat('email', /^[^\s@]+@[^\s@]+\.[^\s@]+$/);
  return ajv;
}

export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = addFormats(new Ajv({ ...COMMON, coerceTypes: false }));
  const coercing = addFormats(new Ajv({ ...COMMON, coerceTypes: 'array' }));
  return ({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema as object);
}

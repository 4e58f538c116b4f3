import { z } from 'zod';

export const sourceKinds = ['ehr', 'imaging', 'wearable', 'druglabel', 'insurance'] as const;
export const sourceKindSchema = z.enum(sourceKinds);
export type SourceKind = z.infer<typeof sourceKindSchema>;

export const ehrFormatSchema = z.enum(['fhir-api', 'hl7v2', 'his-csv']);
export const wearableFormatSchema = z.enum(['openmhealth', 'apple-health', 'vendor-wearable']);
export const drugLabelFormatSchema = z.enum(['spl', 'openfda', 'cn-label']);
export const insuranceFormatSchema = z.enum(['nrdl', 'pdex-formulary']);
export const modalitySchema = z.enum(['CT', 'MR', 'CR', 'US']);

/** JWS algorithms SMART Backend Services requires servers to support for the client assertion. */
export const smartAlgSchema = z.enum(['RS384', 'ES384']);
export type SmartAlg = z.infer<typeof smartAlgSchema>;

/**
 * SMART on FHIR Backend Services (client_credentials with a private_key_jwt assertion) for a FHIR-API EHR. The
 * registry names where the private key is (a PEM PKCS#8 file, or an environment variable holding the PEM), never
 * the key: the registry is committed and copied around, the key is not. Strict, so a `privateKey` field is refused.
 */
export const smartAuthSchema = z
  .object({
    /** Default: `token_endpoint` of `<fhir base>/.well-known/smart-configuration`. */
    tokenUrl: z.string().url().optional(),
    clientId: z.string().min(1),
    /** Absolute, or relative to the worker's working directory. */
    privateKeyFile: z
      .string()
      .min(1)
      .refine((v) => !v.includes('-----BEGIN'), 'must be a path to the key file, not the key itself')
      .optional(),
    privateKeyEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
      .optional(),
    /** The key's id in the JWKS registered with the server; a new kid (and key) is how keys are rotated. */
    kid: z.string().min(1),
    alg: smartAlgSchema,
    scope: z.string().min(1).default('system/*.read'),
  })
  .strict()
  .superRefine((smart, ctx) => {
    if ((smart.privateKeyFile === undefined) === (smart.privateKeyEnv === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['privateKeyFile'],
        message: 'give exactly one of privateKeyFile and privateKeyEnv',
      });
    }
  });
export type SmartAuth = z.infer<typeof smartAuthSchema>;

/**
 * An institution sends the source kinds it has a block for: a hospital that sends only its HIS export, or a research
 * PACS that sends only imaging, has only that block. A run takes, of the kinds it is asked for, those the institution
 * sends (sourcesOf).
 */
export const institutionSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,31}$/, 'lower-case letters, digits and dashes, starting with a letter'),
    name: z.string().min(1),
    locale: z.enum(['zh-CN', 'en-US']),
    timezone: z.string().min(1),
    ehr: z
      .object({
        format: ehrFormatSchema,
        encoding: z.enum(['utf-8', 'gbk']).default('utf-8'),
        smart: smartAuthSchema.optional(),
        /** fhir-api: the resource types to pull, Patient first (default: activities/connectors.ts DEFAULT_FHIR_TYPES). */
        types: z
          .array(z.string().regex(/^[A-Z][A-Za-z]+$/, 'a FHIR resource type name'))
          .min(1)
          .refine(
            (t) => t[0] === 'Patient',
            'must start with Patient: later resources link to their patients',
          )
          .optional(),
      })
      .superRefine((ehr, ctx) => {
        if (ehr.smart && ehr.format !== 'fhir-api')
          ctx.addIssue({
            code: 'custom',
            path: ['smart'],
            message: 'SMART authorization applies to fhir-api EHRs only',
          });
        if (ehr.types && ehr.format !== 'fhir-api')
          ctx.addIssue({ code: 'custom', path: ['types'], message: 'types apply to fhir-api EHRs only' });
      })
      .optional(),
    imaging: z
      .object({
        modalities: z.array(modalitySchema).min(1),
        manufacturer: z.string().min(1),
        /** The institution's PACS DICOMweb root (QIDO/WADO), when it is not `<endpoint>/<inst>/dicom-web`. */
        dicomwebUrl: z.string().url().optional(),
      })
      .optional(),
    wearable: z.object({ format: wearableFormatSchema }).optional(),
    druglabel: z.object({ format: drugLabelFormatSchema }).optional(),
    insurance: z.object({ format: insuranceFormatSchema }).optional(),
  })
  .refine((inst) => sourceKinds.some((kind) => inst[kind] !== undefined), {
    message: `sends nothing: give at least one of ${sourceKinds.join(', ')}`,
  });
export type Institution = z.infer<typeof institutionSchema>;

/** An institution that sends every source kind: the synthetic ones, whose generator writes all five. */
export type FullInstitution = Institution & Required<Pick<Institution, SourceKind>>;

export function sendsAll(institution: Institution): institution is FullInstitution {
  return sourcesOf(institution).length === sourceKinds.length;
}

export const institutionRegistrySchema = z
  .object({ version: z.literal(1), institutions: z.array(institutionSchema).min(1) })
  .superRefine((reg, ctx) => {
    const seen = new Set<string>();
    reg.institutions.forEach((inst, i) => {
      if (seen.has(inst.id))
        ctx.addIssue({
          code: 'custom',
          path: ['institutions', i, 'id'],
          message: `duplicate institution id "${inst.id}"`,
        });
      seen.add(inst.id);
    });
  });
export type InstitutionRegistry = z.infer<typeof institutionRegistrySchema>;

/** The source kinds an institution sends, in `sourceKinds` order. */
export function sourcesOf(institution: Institution): SourceKind[] {
  return sourceKinds.filter((kind) => institution[kind] !== undefined);
}

/**
 * The registry's format name for an institution's source (as hospitals name it in the `format` header); undefined for
 * imaging (DICOM has one format) and for a kind the institution does not send.
 */
export function registryFormatOf(institution: Institution, source: SourceKind): string | undefined {
  return source === 'imaging' ? undefined : institution[source]?.format;
}

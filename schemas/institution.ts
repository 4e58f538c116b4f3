import { z } from 'zod';

export const sourceKinds = ['ehr', 'imaging', 'wearable', 'druglabel', 'insurance'] as const;
export const sourceKindSchema = z.enum(sourceKinds);
export type SourceKind = z.infer<typeof sourceKindSchema>;

export const ehrFormatSchema = z.enum(['fhir-api', 'hl7v2', 'his-csv']);
export const wearableFormatSchema = z.enum(['openmhealth', 'apple-health', 'vendor-wearable']);
export const drugLabelFormatSchema = z.enum(['spl', 'openfda', 'cn-label']);
export const insuranceFormatSchema = z.enum(['nrdl', 'pdex-formulary']);
export const modalitySchema = z.enum(['CT', 'MR', 'CR', 'US']);

export const institutionSchema = z.object({
  id: z.string().regex(/^[a-z][a-z0-9-]{1,31}$/, 'lower-case letters, digits and dashes, starting with a letter'),
  name: z.string().min(1),
  locale: z.enum(['zh-CN', 'en-US']),
  timezone: z.string().min(1),
  ehr: z.object({ format: ehrFormatSchema, encoding: z.enum(['utf-8', 'gbk']).default('utf-8') }),
  imaging: z.object({
    modalities: z.array(modalitySchema).min(1),
    manufacturer: z.string().min(1),
    /** The institution's PACS DICOMweb root (QIDO/WADO), when it is not `<endpoint>/<inst>/dicom-web`. */
    dicomwebUrl: z.string().url().optional(),
  }),
  wearable: z.object({ format: wearableFormatSchema }),
  druglabel: z.object({ format: drugLabelFormatSchema }),
  insurance: z.object({ format: insuranceFormatSchema }),
});
export type Institution = z.infer<typeof institutionSchema>;

export const institutionRegistrySchema = z
  .object({ version: z.literal(1), institutions: z.array(institutionSchema).min(1) })
  .superRefine((reg, ctx) => {
    const seen = new Set<string>();
    reg.institutions.forEach((inst, i) => {
      if (seen.has(inst.id)) ctx.addIssue({ code: 'custom', path: ['institutions', i, 'id'], message: `duplicate institution id "${inst.id}"` });
      seen.add(inst.id);
    });
  });
export type InstitutionRegistry = z.infer<typeof institutionRegistrySchema>;

/** Tributary imaging: the public API others call. */
export {
  writePart10,
  writeDataset,
  EXPLICIT_VR_LITTLE_ENDIAN,
  type DicomElementInput,
  type DicomValue,
  type WritePart10Input,
} from './dicom-write';
export { readDicom, type ReadDicomResult } from './dicom-read';
export {
  deidentifyDicom,
  shiftDicomDate,
  type DeidentifyDicomContext,
  type DeidentifyDicomResult,
  type DicomDeidReport,
  type DescriptorScrubber,
} from './dicom-deid';
export { PIPELINE_DEID_OPTIONS, deidOptionNames, type DeidOptions, type DeidOptionName } from './annex-e';
export { createDescriptorScrubber } from './descriptor-scrubber';
export { deidentifyDicomFiles, parseOptionNames, type DeidFilesReport } from './deid-files';
export { summarizeDicom, summarizeNodes } from './dicom-summary';
export {
  denoiseDicom,
  loadDenoiseConfig,
  type DenoiseConfig,
  type DenoiseResult,
  type DenoiseProvenance,
} from './denoise';
export { renderPreviews, type PreviewOptions } from './preview';
export { median3x3 } from './median';
export {
  createDicomWebClient,
  jsonValue,
  type DicomWebClient,
  type DicomJson,
  type StoreResult,
} from './dicomweb';
export { loadMaskRules, assessBurnedIn, type MaskRule } from './burned-in';

import type { KeyService } from '../deid/key-service';
import { scrubText } from '../deid/text-scrubber';
import type { DescriptorScrubber } from './dicom-deid';

/**
 * Clean Descriptors through the de-identification engine's free-text scrubber: the instance's own identifiers
 * (patient name parts, IDs, birth date) are removed wherever they appear, plus the scrubber's patterns and
 * dictionaries; dates move by the patient's offset.
 */
export function createDescriptorScrubber(keyService: KeyService): DescriptorScrubber {
  return (text, ctx) =>
    scrubText(
      text,
      {
        keyService,
        linkage: ctx.linkage,
        identifiers: ctx.identifiers,
        dateOffsetDays: ctx.dateOffsetDays,
        mode: 'tag',
      },
      'dicom descriptor',
    ).text;
}

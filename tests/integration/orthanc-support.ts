/**
 * Test data in the shared Orthanc. The generator's study UIDs depend on the seed, the institution and the study's
 * ordinal, not on the patient: the same seed with another patient count gives a known StudyInstanceUID to another
 * patient, Orthanc then holds two studies with one UID, and its WADO-RS answers 404 for them. Tests remove their
 * studies (by UID, through Orthanc's REST API) before uploading and after they finish.
 */
export async function removeStudiesFromOrthanc(
  orthancUrl: string,
  studyUids: Iterable<string>,
): Promise<number> {
  const base = orthancUrl.replace(/\/+$/, '');
  let removed = 0;
  for (const uid of studyUids) {
    const res = await fetch(`${base}/tools/lookup`, { method: 'POST', body: uid });
    if (!res.ok) throw new Error(`Orthanc /tools/lookup answered HTTP ${res.status}`);
    for (const r of ((await res.json()) as { ID: string; Type: string }[]).filter(
      (x) => x.Type === 'Study',
    )) {
      const del = await fetch(`${base}/studies/${r.ID}`, { method: 'DELETE' });
      if (!del.ok && del.status !== 404) throw new Error(`Orthanc DELETE study answered HTTP ${del.status}`);
      removed++;
    }
  }
  return removed;
}

import { describeAnnotationApi } from './server-suite';
import { samplePlantedValues } from './sample-items';
import { openQueueStore } from './store';

describeAnnotationApi({
  name: 'annotation API on PGlite',
  openStore: () => openQueueStore({ dataDir: 'memory://' }),
  planted: samplePlantedValues(),
  strictValues: samplePlantedValues().map((v) => v.toLowerCase()),
  // PGlite runs one transaction at a time; the many-connection race is exercised on PostgreSQL (tests/integration).
  loadItems: 8,
});

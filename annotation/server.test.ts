import { describeAnnotationApi } from './server-suite';
import { samplePlantedValues } from './sample-items';
import { openQueueStore } from './store';

describeAnnotationApi({
  name: 'annotation API on PGlite',
  openStore: () => openQueueStore({ dataDir: 'memory://' }),
  planted: samplePlantedValues(),
});

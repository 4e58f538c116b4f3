import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { getHealthJson, spawnDetached, which } from './process';
import { ensureDebianPackages } from './prerequisites';
import { ensureDir, serviceDirs, type ServiceDriver, type StackContext } from './service';

/** Debian 12's Orthanc 1.10 with the DICOMweb and PostgreSQL-index plugins. */
const PLUGIN_DIR = '/usr/share/orthanc/plugins';
const PLUGINS = ['libOrthancDicomWeb.so', 'libOrthancPostgreSQLIndex.so'];
export const ORTHANC_PACKAGES = ['orthanc', 'orthanc-dicomweb', 'orthanc-postgresql', 'dcmtk'];
/** The only DICOM peer allowed to talk DIMSE to the local Orthanc: AE title TRIBUTARY from loopback. */
export const ORTHANC_LOCAL_PEER_AET = 'TRIBUTARY';

function orthancBin(): string | undefined {
  return which('Orthanc') ?? (fs.existsSync('/usr/sbin/Orthanc') ? '/usr/sbin/Orthanc' : undefined);
}

/** Orthanc's index lives in the `orthanc` database of the stack's (or the user's) PostgreSQL. */
function indexDatabase(config: Config): {
  Host: string;
  Port: number;
  Username: string;
  Password: string;
  Database: string;
} {
  const url = new URL(config.database.url);
  return {
    Host: url.hostname,
    Port: Number(url.port || 5432),
    Username: decodeURIComponent(url.username || 'tributary'),
    Password: decodeURIComponent(url.password),
    Database: 'orthanc',
  };
}

function orthancConfig(config: Config, home: string): Record<string, unknown> {
  return {
    Name: 'tributary-local',
    StorageDirectory: path.join(home, 'storage'),
    IndexDirectory: path.join(home, 'index'),
    HttpPort: config.env.TRIBUTARY_ORTHANC_HTTP_PORT,
    DicomPort: config.env.TRIBUTARY_ORTHANC_DICOM_PORT,
    DicomAet: 'ORTHANC',
    // Orthanc 1.10 cannot bind to one interface: it refuses HTTP from other hosts instead, and DIMSE from any
    // peer that is not the loopback modality below.
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomAlwaysAllowEcho: false,
    DicomAlwaysAllowStore: false,
    DicomAlwaysAllowFind: false,
    DicomAlwaysAllowMove: false,
    DicomCheckModalityHost: true,
    DicomModalities: { local: [ORTHANC_LOCAL_PEER_AET, '127.0.0.1', 104] },
    Plugins: PLUGINS.map((p) => path.join(PLUGIN_DIR, p)),
    PostgreSQL: { EnableIndex: true, EnableStorage: false, Lock: false, ...indexDatabase(config) },
    DicomWeb: {
      Enable: true,
      Root: '/dicom-web/',
      EnableWado: true,
      WadoRoot: '/wado',
      StudiesMetadata: 'Full',
      SeriesMetadata: 'Full',
    },
    StableAge: 5,
    ConcurrentJobs: 2,
    HttpThreadsCount: 20,
  };
}

export const orthancService: ServiceDriver = {
  name: 'orthanc',
  command: 'Orthanc',
  address: (config) => config.orthanc.url,
  external: (config) => config.orthanc.external,
  ports: (config) => [
    { port: config.env.TRIBUTARY_ORTHANC_HTTP_PORT, variable: 'TRIBUTARY_ORTHANC_HTTP_PORT' },
    { port: config.env.TRIBUTARY_ORTHANC_DICOM_PORT, variable: 'TRIBUTARY_ORTHANC_DICOM_PORT' },
  ],
  startTimeoutMs: 90_000,
  async prepare(ctx: StackContext) {
    await ensureDebianPackages(ORTHANC_PACKAGES, 'the local Orthanc PACS', ctx.progress);
    const missing = PLUGINS.filter((p) => !fs.existsSync(path.join(PLUGIN_DIR, p)));
    if (missing.length)
      throw new TributaryError(`Orthanc plugins missing from ${PLUGIN_DIR}: ${missing.join(', ')}`, {
        code: 'not-found',
      });
  },
  async start(ctx: StackContext) {
    const bin = orthancBin();
    if (!bin)
      throw new TributaryError(
        'Orthanc not found: install it with apt-get install -y orthanc orthanc-dicomweb orthanc-postgresql',
        { code: 'not-found' },
      );
    const dirs = serviceDirs(ctx.config, 'orthanc');
    ensureDir(dirs.home);
    ensureDir(path.join(dirs.home, 'storage'));
    ensureDir(path.join(dirs.home, 'index'));
    const configFile = path.join(dirs.home, 'orthanc.json');
    fs.writeFileSync(configFile, JSON.stringify(orthancConfig(ctx.config, dirs.home), null, 2) + '\n');
    return spawnDetached(bin, [configFile], { logFile: dirs.log, pidFile: dirs.pid, cwd: dirs.home });
  },
  async afterStart(ctx: StackContext) {
    const plugins = (await getHealthJson(`${ctx.config.orthanc.url}/plugins`)) as string[];
    const needed = ['dicom-web', 'postgresql-index'].filter((p) => !plugins.includes(p));
    if (needed.length)
      throw new TributaryError(
        `Orthanc started without the plugins ${needed.join(', ')}; see ${serviceDirs(ctx.config, 'orthanc').log}`,
        { code: 'exception' },
      );
  },
  async healthy(config: Config) {
    const system = (await getHealthJson(`${config.orthanc.url}/system`)) as { Version?: string };
    return typeof system.Version === 'string';
  },
};

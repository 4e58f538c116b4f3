import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Config } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { runCommand, spawnDetached } from './process';
import { requireJava17, requireTool } from './prerequisites';
import { ensureDir, mavenRepository, serviceDirs, type ServiceDriver, type StackContext } from './service';

/** Pinned: Kafka 4.x runs KRaft only (no ZooKeeper) and needs Java 17 for the broker. */
export const KAFKA_VERSION = '4.1.1';
const LOG4J_VERSION = '2.24.3';

function kafkaCacheDir(config: Config): string {
  return path.join(config.paths.cache, 'kafka', KAFKA_VERSION);
}

function kafkaLibs(config: Config): string {
  return path.join(kafkaCacheDir(config), 'libs');
}

/** The broker's jars from Maven Central (kafka_2.13 and its runtime dependencies), fetched once into the cache. */
export async function ensureKafkaJars(config: Config, progress: (m: string) => void): Promise<string> {
  const libs = kafkaLibs(config);
  if (fs.existsSync(path.join(libs, '.complete'))) return libs;
  const mvn = requireTool(
    'mvn',
    'the Kafka broker jars are fetched from Maven Central with Maven',
    'install it (Debian: apt-get install -y maven), or set KAFKA_BROKERS to use your own Kafka',
  );
  const dir = ensureDir(kafkaCacheDir(config));
  const pom = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tributary</groupId><artifactId>kafka-runtime</artifactId><version>${KAFKA_VERSION}</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <!-- Kafka logs through slf4j 1.7; this routes it to log4j2 so the broker log says what it does. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
`;
  fs.writeFileSync(path.join(dir, 'pom.xml'), pom);
  const staging = path.join(dir, `libs.tmp-${process.pid}`);
  fs.rmSync(staging, { recursive: true, force: true });
  const logFile = path.join(ensureDir(config.paths.logs), 'kafka-fetch.log');
  progress(`fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${libs} (log: ${logFile})`);
  await runCommand(
    mvn,
    [
      '-B',
      '-q',
      `-Dmaven.repo.local=${mavenRepository(config)}`,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${staging}`,
    ],
    { cwd: dir, timeoutMs: 20 * 60_000, logFile },
  );
  fs.writeFileSync(path.join(staging, '.complete'), `${new Date().toISOString()}\n`);
  fs.rmSync(libs, { recursive: true, force: true });
  fs.renameSync(staging, libs);
  return libs;
}

function serverProperties(config: Config, dataDir: string): string {
  const port = config.env.TRIBUTARY_KAFKA_PORT;
  const controller = config.env.TRIBUTARY_KAFKA_CONTROLLER_PORT;
  return [
    '# Written by deploy/stack/kafka.ts on every start; edit that file instead.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${controller}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'auto.create.topics.enable=true',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

const LOG4J2 = [
  'status = warn',
  'appender.out.type = Console',
  'appender.out.name = OUT',
  'appender.out.layout.type = PatternLayout',
  'appender.out.layout.pattern = [%d] %p %m (%c)%n',
  'rootLogger.level = WARN',
  'rootLogger.appenderRef.out.ref = OUT',
  'logger.server.name = kafka.server.KafkaRaftServer',
  'logger.server.level = INFO',
  '',
].join('\n');

const javaArgs = (libs: string, home: string) => [
  '-Xms128m',
  '-Xmx512m',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-Djava.awt.headless=true',
  `-Dlog4j2.configurationFile=${path.join(home, 'log4j2.properties')}`,
  '-cp',
  // java expands the trailing * itself; no shell is involved.
  `${libs}/*`,
];

/**
 * A random cluster id as Kafka writes them: 16 bytes, base64url. One in 64 starts with '-', which kafka-storage's
 * argument parser reads as an option ("--cluster-id: expected one argument"); Kafka's own Uuid.randomUuid redraws
 * those, and so does this.
 */
export function newKafkaClusterId(random: (n: number) => Buffer = crypto.randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export const kafkaService: ServiceDriver = {
  name: 'kafka',
  command: 'java',
  address: (config) => config.kafka.brokers.join(','),
  external: (config) => config.kafka.external,
  ports: (config) => [
    { port: config.env.TRIBUTARY_KAFKA_PORT, variable: 'TRIBUTARY_KAFKA_PORT' },
    { port: config.env.TRIBUTARY_KAFKA_CONTROLLER_PORT, variable: 'TRIBUTARY_KAFKA_CONTROLLER_PORT' },
  ],
  startTimeoutMs: 120_000,
  async prepare(ctx: StackContext) {
    await requireJava17();
    await ensureKafkaJars(ctx.config, ctx.progress);
  },
  async start(ctx: StackContext) {
    const { config } = ctx;
    const java = await requireJava17();
    const libs = await ensureKafkaJars(config, ctx.progress);
    const dirs = serviceDirs(config, 'kafka');
    const dataDir = path.join(ensureDir(dirs.home), 'data');
    const props = path.join(dirs.home, 'server.properties');
    fs.writeFileSync(props, serverProperties(config, dataDir));
    fs.writeFileSync(path.join(dirs.home, 'log4j2.properties'), LOG4J2);

    // The controller's own address is written into the metadata log when the storage is formatted.
    const formattedFor = path.join(dirs.home, 'formatted-for');
    const endpoint = `controller 127.0.0.1:${config.env.TRIBUTARY_KAFKA_CONTROLLER_PORT}`;
    if (fs.existsSync(path.join(dataDir, 'meta.properties'))) {
      const previous = fs.existsSync(formattedFor) ? fs.readFileSync(formattedFor, 'utf8').trim() : endpoint;
      if (previous !== endpoint) {
        throw new TributaryError(
          `Kafka storage in ${dataDir} was formatted for ${previous}, not ${endpoint}. Restore TRIBUTARY_KAFKA_CONTROLLER_PORT or delete ${dirs.home} to start afresh.`,
          {
            code: 'invalid',
            location: 'TRIBUTARY_KAFKA_CONTROLLER_PORT',
            nonRetryable: true,
          },
        );
      }
    } else {
      ctx.progress('formatting Kafka storage (KRaft, standalone controller)');
      const clusterId = newKafkaClusterId();
      await runCommand(
        java,
        [
          ...javaArgs(libs, dirs.home),
          'kafka.tools.StorageTool',
          'format',
          '-t',
          clusterId,
          '-c',
          props,
          '--standalone',
          '--ignore-formatted',
        ],
        {
          timeoutMs: 120_000,
          logFile: dirs.log,
        },
      );
      fs.writeFileSync(formattedFor, `${endpoint}\n`);
    }
    return spawnDetached(java, [...javaArgs(libs, dirs.home), 'kafka.Kafka', props], {
      logFile: dirs.log,
      pidFile: dirs.pid,
      cwd: dirs.home,
    });
  },
  async healthy(config: Config) {
    const kafka = new Kafka({
      clientId: 'tributary-stack-health',
      brokers: config.kafka.brokers,
      connectionTimeout: 2000,
      requestTimeout: 3000,
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0 && cluster.controller !== null;
    } finally {
      await admin.disconnect();
    }
  },
};

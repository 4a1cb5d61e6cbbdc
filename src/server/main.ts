// The entry point (`npm start`, `node dist/server/main.js`): reads the configuration once, makes
// sure the model file exists (single-model mode), builds the app and listens on PORT (HTTP) and
// GRPC_PORT (gRPC, unless off). A single model that cannot start ends the process (exit 1); in a
// repository, a model that cannot load is UNAVAILABLE in the index and the others serve.
// SIGTERM/SIGINT drain gracefully (close-with-grace): readiness turns false and new work gets 503
// SHUTTING_DOWN (gRPC: UNAVAILABLE) at once, in-flight and queued work finishes, the engine
// stops, and the process exits 0 within SHUTDOWN_TIMEOUT_MS (1 if the drain does not finish in time).
import { ConfigError, configHelp, loadConfig, type Config } from './config.ts';
import type { Lifecycle } from './app.ts';
import type { GrpcServer } from './grpc/grpc-server.ts';

function readConfig(argv: readonly string[]): Config {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(configHelp());
    process.exit(0);
  }
  try {
    return loadConfig(process.env, argv);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  let config = readConfig(process.argv.slice(2));
  // Loaded after the configuration is known good, so --help and config errors answer at once.
  const [
    { default: closeWithGrace },
    { pino },
    { configureSharp },
    { buildApp },
    { prepareModel },
    { startGrpcServer },
  ] = await Promise.all([
    import('close-with-grace'),
    import('pino'),
    import('../preprocess/index.ts'),
    import('./app.ts'),
    import('./model-files.ts'),
    import('./grpc/grpc-server.ts'),
  ]);
  const bootLog = pino({ level: config.logLevel, base: { service: 'resnet-serve' } });
  configureSharp({ concurrency: config.sharpConcurrency });
  if (config.modelRepository === undefined) config = await prepareModel(config, bootLog);

  const lifecycle: Lifecycle = { shuttingDown: false };
  // Asynchronous stdout: a slow reader of stdout (a full pipe to a log shipper) cannot block the
  // event loop, and lines written while a write is in flight go out together. Under the 8x overload
  // it did not make writing cheaper (fs.write still took 12-17% of the event loop in profiles);
  // refusals now write one log line instead of two (plugins/error-handler.ts).
  const logStream = pino.destination({ dest: 1, sync: false });
  const app = await buildApp(config, { lifecycle, logStream });
  let grpc: GrpcServer | undefined;
  const closer = closeWithGrace(
    {
      delay: config.shutdownTimeoutMs,
      logger: { error: (message: unknown) => app.log.error({ detail: String(message) }, 'shutdown') },
    },
    async ({ signal, err }) => {
      lifecycle.shuttingDown = true;
      if (err) app.log.error({ err }, 'closing after an unexpected error');
      else app.log.info({ signal }, 'draining: finishing in-flight work');
      grpc?.refreshHealth();
      // Both finish their calls in flight; gRPC calls hold their classifiers, so the engines stop after them.
      await Promise.all([grpc?.close(config.shutdownTimeoutMs), app.close()]);
      app.log.info('drained');
      logStream.flushSync();
    },
  );

  await app.listen({ port: config.port, host: config.host });
  if (config.grpcPort !== 'off') {
    grpc = await startGrpcServer(app, config.host, config.grpcPort);
    app.log.info({ host: config.host, port: grpc.port }, 'grpc listening');
  }
  await app.registry.whenStarted();
  const index = app.registry.index();
  const unavailable = index.filter((row) => row.state !== 'READY');
  if (config.modelRepository === undefined && unavailable.length > 0) {
    app.log.fatal(
      { model: unavailable[0]?.name, reason: unavailable[0]?.reason },
      'the inference engine could not start',
    );
    closer.uninstall();
    await Promise.all([grpc?.close(0), app.close()]);
    logStream.flushSync();
    process.exit(1);
  }
  for (const row of unavailable) app.log.warn(row, 'model unavailable');
  app.log.info(
    { models: index.filter((row) => row.state === 'READY').map((row) => `${row.name}/${row.version ?? ''}`) },
    'ready',
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

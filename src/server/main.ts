// The entry point (`npm start` builds dist/ and runs `node dist/server/main.js`): reads the
// configuration once, makes sure the model file exists (single-model mode), builds the app and
// listens on PORT (HTTP) and GRPC_PORT (gRPC, unless off). A single model that cannot start ends the process (exit 1); in a repository, a model
// that cannot load is UNAVAILABLE in the index and the others serve. SIGTERM or SIGINT (Ctrl-C)
// drains gracefully (close-with-grace): readiness turns false and new work gets 503 SHUTTING_DOWN
// (gRPC: UNAVAILABLE) at once, in-flight and queued work finishes, the engine stops, and the process exits 0 within
// SHUTDOWN_TIMEOUT_MS (1 if the drain does not finish in time). A second signal forces exit 1,
// unless it is the first one relayed (shutdown-signals.ts).
import { ConfigError, configHelp, loadConfig, type Config } from './config.ts';
import type { Lifecycle } from './app.ts';
import type { GrpcServer } from './grpc/grpc-server.ts';
import { SHUTDOWN_SIGNALS, handleShutdownSignals } from './shutdown-signals.ts';

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
    { configureSharp, configureJpegDecoder },
    { buildApp },
    { prepareModel },
    { startGrpcServer },
    logs,
  ] = await Promise.all([
    import('close-with-grace'),
    import('pino'),
    import('../preprocess/index.ts'),
    import('./app.ts'),
    import('./model-files.ts'),
    import('./grpc/grpc-server.ts'),
    import('./log-stream.ts'),
  ]);
  const logStream = await logs.stdoutLogStream(logs.logFormatFor(config.logFormat, process.stdout.isTTY === true));
  const bootLog = pino({ level: config.logLevel, base: { service: 'resnet-serve' } }, logStream);
  configureSharp({ concurrency: config.sharpConcurrency });
  let jpegDecoder: string;
  try {
    jpegDecoder = configureJpegDecoder(config.jpegDecoder);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  }
  if (config.modelRepository === undefined) config = await prepareModel(config, bootLog);

  const lifecycle: Lifecycle = { shuttingDown: false };
  const app = await buildApp(config, { lifecycle, logStream });
  let grpc: GrpcServer | undefined;
  // close-with-grace drains on errors and other signals; SIGINT and SIGTERM are shutdown-signals.ts's,
  // which tells a relayed copy of the first from a second one that forces.
  const closer = closeWithGrace(
    {
      delay: config.shutdownTimeoutMs,
      skip: [...SHUTDOWN_SIGNALS],
      logger: { error: (message: unknown) => app.log.error({ detail: String(message) }, 'shutdown') },
    },
    async ({ signal, err }) => {
      lifecycle.shuttingDown = true;
      if (err) app.log.error({ err }, 'closing after an unexpected error');
      else if (signal) app.log.info({ signal }, 'draining: finishing in-flight work');
      grpc?.refreshHealth();
      // Both finish their calls in flight; gRPC calls hold their classifiers, so the engines stop after them.
      await Promise.all([grpc?.close(config.shutdownTimeoutMs), app.close()]);
      app.log.info('drained');
      await logStream.flush();
    },
  );
  // The last line says how the process ended (npm reports 130 after any Ctrl-C, whatever node's code was).
  process.once('exit', (exitCode) => {
    app.log.info({ exitCode }, 'stopped');
    logStream.flushSync();
  });
  const stopSignals = handleShutdownSignals({
    drain(signal) {
      app.log.info({ signal }, 'draining: finishing in-flight work');
      closer.close();
    },
    relayed(signal, msSinceFirst) {
      app.log.debug({ signal, msSinceFirst }, 'signal ignored: the first one, relayed');
    },
    force(signal, msSinceFirst) {
      app.log.warn({ signal, msSinceFirst }, 'second signal: exiting without finishing the drain');
      // The log gets a moment to reach stdout; the exit does not wait for more.
      void Promise.race([logStream.flush(), new Promise((resolve) => setTimeout(resolve, 200))]).then(() =>
        process.exit(1),
      );
    },
  });

  // The first line a person at a terminal needs: the URL to open.
  await app.listen({
    port: config.port,
    host: config.host,
    listenTextResolver: (address) => `resnet-serve listening on ${address} (upload page at /, API docs at /docs)`,
  });
  // Stops what started (the engines may still be loading: exiting under a worker that is creating its
  // session can end the process by a signal instead of exit 1), then exits 1.
  const failStartup = async (): Promise<never> => {
    closer.uninstall();
    stopSignals();
    await Promise.all([grpc?.close(0), app.close()]);
    await logStream.flush();
    process.exit(1);
  };
  if (config.grpcPort !== 'off') {
    try {
      grpc = await startGrpcServer(app, config.host, config.grpcPort);
    } catch (err) {
      app.log.fatal({ detail: err instanceof Error ? err.message : String(err) }, 'grpc could not start');
      console.error(err instanceof Error ? err.message : err);
      return failStartup();
    }
    app.log.info({ host: config.host, port: grpc.port }, 'grpc listening');
  }
  await app.registry.whenStarted();
  // A signal while the models were still loading: the drain retired them and owns the exit (0).
  if (lifecycle.shuttingDown) return;
  const index = app.registry.index();
  const unavailable = index.filter((row) => row.state !== 'READY');
  if (config.modelRepository === undefined && unavailable.length > 0) {
    app.log.fatal(
      { model: unavailable[0]?.name, reason: unavailable[0]?.reason },
      'the inference engine could not start',
    );
    return failStartup();
  }
  for (const row of unavailable) app.log.warn(row, 'model unavailable');
  app.log.info(
    {
      models: index.filter((row) => row.state === 'READY').map((row) => `${row.name}/${row.version ?? ''}`),
      jpegDecoder,
    },
    'ready',
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

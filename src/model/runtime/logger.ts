// The engine logs through a pino-like logger (object first, constant message); a pino Logger fits.
export interface EngineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: EngineLogger = {
  info: () => {},
  warn: () => {},
  error: () => {},
};

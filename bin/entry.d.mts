/** The newest modification time under root's src/ and of its tsconfigs. */
export function newestSource(root: URL): number;
/** Whether root holds a build (dist/BUILD) no source is newer than. */
export function compiledIsFresh(root: URL): boolean;

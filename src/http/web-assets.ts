/**
 * The folder view's script and stylesheet, served from a path reserved under the mount prefix:
 * PREFIX/.fastdav-ui/VERSION/FILE. VERSION is a hash of every asset, so each build has its own
 * URLs and browsers may keep them for a year (`immutable`). The name `.fastdav-ui` at the top
 * of every requester's tree is reserved (Namespace.fromUrlPath answers 403 for it), so no user
 * file can ever be shadowed by, or shadow, the assets. They hold no user data and need no
 * credentials.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { STYLESHEET } from '../web/stylesheet.js';

export const UI_SEGMENT = '.fastdav-ui';

export interface WebAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

/** The browser modules compiled by tsc from src/web/ (app.js imports format.js). */
const SCRIPTS = ['app.js', 'format.js'];

/**
 * Where the compiled browser code is: beside this module in dist/ (dist/http → dist/web); when
 * this module runs from src/ (tests through tap's TypeScript loader) the build's dist/web.
 */
function scriptFolder(): URL {
  const here = import.meta.url;
  return new URL(here.endsWith('.ts') ? '../../dist/web/' : '../web/', here);
}

export class WebAssets {
  private readonly files: ReadonlyMap<string, WebAsset>;
  readonly version: string;

  private constructor(files: Map<string, WebAsset>) {
    this.files = files;
    const hash = createHash('sha256');
    for (const [name, asset] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) hash.update(name).update('\0').update(asset.body);
    this.version = hash.digest('hex').slice(0, 16);
  }

  /** Reads the assets once at start-up; a missing build is a clear start-up error. */
  static load(): WebAssets {
    const files = new Map<string, WebAsset>();
    const folder = scriptFolder();
    for (const name of SCRIPTS) {
      const file = new URL(name, folder);
      let body: Buffer;
      try {
        body = readFileSync(file);
      } catch {
        throw new Error(`the folder view's script ${fileURLToPath(file)} is missing: build with "npm run build"`);
      }
      // The compiled code points at its source map, which is not served.
      files.set(name, { body: Buffer.from(body.toString('utf8').replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n')), contentType: 'text/javascript; charset=utf-8' });
    }
    files.set('style.css', { body: Buffer.from(STYLESHEET), contentType: 'text/css; charset=utf-8' });
    return new WebAssets(files);
  }

  /** The asset called `name` of `version`, or undefined (another build's URL, an unknown file). */
  find(version: string, name: string): WebAsset | undefined {
    return version === this.version ? this.files.get(name) : undefined;
  }

  /** The URL folder of this build's assets under the mount prefix (ends with '/'). */
  base(prefix: string): string {
    return `${prefix}${UI_SEGMENT}/${this.version}/`;
  }
}

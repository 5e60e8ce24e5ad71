/**
 * The README and the Dockerfile speak to whoever clones the project (issue 11 item 24): their
 * Docker instructions name the ordinary `docker build` / `podman build --format docker` (which
 * keeps the HEALTHCHECK), never a path outside the repository such as ../shared.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const read = (name: string) => readFileSync(fileURLToPath(new URL(`../../${name}`, import.meta.url)), 'utf8');

t.test('the Docker instructions work from a clone', async (t) => {
  const readme = read('README.md');
  const docker = readme.slice(readme.indexOf('## Running in Docker'), readme.indexOf('## Operations'));
  const dockerfile = read('Dockerfile');
  for (const [name, text] of [['README "Running in Docker"', docker], ['Dockerfile', dockerfile], ['docker/compose.yaml', read('docker/compose.yaml')]] as const) {
    t.notMatch(text, /\.\.\/shared|\/work\//, `${name}: no path outside the repository`);
  }
  t.match(docker, /^docker build -t fastdav \./m, 'README: docker build');
  t.match(docker, /podman build --format docker -t fastdav \./, 'README: podman build with --format docker');
  t.match(dockerfile.split('\n')[0], /docker build -t fastdav \..*podman build --format docker -t fastdav \./, 'Dockerfile comment: both, with --format docker');
  t.match(dockerfile, /^HEALTHCHECK /m, 'the HEALTHCHECK that --format docker keeps');
});

/** `kiln init`: the files of a new project, small enough to read in a minute. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function scaffoldProject(dir: string, name: string): string[] {
  const files: Record<string, string> = {
    'kiln_project.yml': `name: ${name}
version: '1.0.0'
profile: ${name}

model-paths: ['models']
seed-paths: ['seeds']
macro-paths: ['macros']
test-paths: ['tests']

models:
  ${name}:
    +materialized: view
`,
    'models/example/my_first_model.sql': `-- A model is a SELECT. Kiln builds it as a view (see kiln_project.yml) in your target schema.
select 1 as id, 'hello' as greeting
`,
    'models/example/my_second_model.sql': `{{ config(materialized='table') }}

-- ref() makes this model depend on my_first_model, so it is built after it.
select id, upper(greeting) as greeting from {{ ref('my_first_model') }}
`,
    'models/example/schema.yml': `version: 2

models:
  - name: my_first_model
    description: A starter model.
    columns:
      - name: id
        description: The primary key.
`,
    'seeds/.gitkeep': '',
    'macros/.gitkeep': '',
    'tests/.gitkeep': '',
    '.gitignore': 'target/\nlogs/\n',
  };
  for (const [path, content] of Object.entries(files)) {
    const abs = join(dir, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
  return Object.keys(files);
}

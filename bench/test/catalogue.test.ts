import assert from 'node:assert/strict';
import { test } from 'node:test';
import { catalogue } from '../suite/catalogue.ts';
import { scenarioGroups, scenarioNames, usage } from '../suite/options.ts';

test('when the suite runs, then its scenarios are exactly the names the command line knows, in the same order', () => {
  assert.deepEqual(
    catalogue.map((scenario) => scenario.name),
    [...scenarioNames],
  );
});

test('when --help is asked, then every scenario and group is listed', () => {
  for (const name of [...scenarioNames, ...Object.keys(scenarioGroups)]) {
    assert.match(usage, new RegExp(`^  ${name} `, 'm'), `${name} is not in the usage`);
  }
});

test('when a group is defined, then it names scenarios only, and no group shadows a scenario', () => {
  for (const [group, members] of Object.entries(scenarioGroups)) {
    assert.ok(!(scenarioNames as readonly string[]).includes(group), `${group} is a scenario's name`);
    assert.ok(members.length > 0);
    for (const member of members) assert.ok(scenarioNames.includes(member), `${group}: ${member}`);
  }
});

test('when scenarios are described, then each has its own title and says what it checks', () => {
  const titles = new Set(catalogue.map((scenario) => scenario.title));
  assert.equal(titles.size, catalogue.length);
  for (const scenario of catalogue) assert.match(scenario.description, /\bchecks\b/i, scenario.name);
});

import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import {
  peerArguments,
  peerJarName,
  peerJdbcOf,
  peerPom,
  peerRedisOf,
  peerSpringBootVersion,
  resolvePeerServiceDir,
} from '../suite/peer-seed.ts';

const application = join('src', 'main', 'java', 'fisa', 'coupon', 'CouponApplication.java');

describe("the seed's coupon service, as the suite builds it", () => {
  test('when the pom is written, then it has the Spring Boot parent, Java 17 and every library of build.gradle', () => {
    const pom = peerPom();
    assert.match(
      pom,
      new RegExp(
        `<artifactId>spring-boot-starter-parent</artifactId>\\s*<version>${peerSpringBootVersion}</version>`,
      ),
    );
    assert.equal(peerSpringBootVersion, '3.5.7');
    assert.match(pom, /<java\.version>17<\/java\.version>/);
    for (const artifact of [
      'spring-boot-starter-data-jpa',
      'spring-boot-starter-data-redis',
      'spring-boot-starter-web',
      'spring-boot-starter-actuator',
      'spring-kafka',
      'commons-pool2',
      'micrometer-registry-prometheus',
      'lombok',
      'mysql-connector-j',
    ]) {
      assert.match(pom, new RegExp(`<artifactId>${artifact}</artifactId>`), artifact);
    }
    assert.match(pom, /<artifactId>mysql-connector-j<\/artifactId>\s*<scope>runtime<\/scope>/);
    assert.match(pom, /<artifactId>spring-boot-maven-plugin<\/artifactId>/);
    assert.match(pom, /<annotationProcessorPaths>[\s\S]*<artifactId>lombok<\/artifactId>/);
  });

  test('when the pom is written, then the jar is named as machine.ts knows it and no library carries a version of its own', () => {
    const pom = peerPom();
    assert.match(pom, new RegExp(`<finalName>${peerJarName.replace(/\.jar$/, '')}</finalName>`));
    const dependencies = pom.slice(pom.indexOf('<dependencies>'), pom.indexOf('</dependencies>'));
    assert.doesNotMatch(dependencies, /<version>/, 'versions come from the Spring Boot parent');
    assert.doesNotMatch(pom, /spring-boot-starter-test/, 'the tests are not built');
  });

  test("when --peer-src is the checkout's root or the service's folder, then the service's folder is found", () => {
    const root = resolve('/src/tech-semina-msa');
    const service = join(root, 'cloud-services', 'msa-coupon-service');
    const exists = (path: string) => path === join(service, application);
    assert.equal(resolvePeerServiceDir(root, exists), service);
    assert.equal(resolvePeerServiceDir(service, exists), service);
  });

  test('when --peer-src holds no coupon service, then the error says what to pass', () => {
    assert.throws(
      () => resolvePeerServiceDir('/tmp/elsewhere', () => false),
      /--peer-src \/tmp\/elsewhere: .*FISA-Team-CE\/tech-semina-msa/,
    );
  });

  test('when Redis is a plain URL, then the seed gets its host and port; credentials it cannot pass are refused', () => {
    assert.deepEqual(peerRedisOf('redis://127.0.0.1:6380'), { host: '127.0.0.1', port: 6380 });
    assert.deepEqual(peerRedisOf('redis://localhost'), { host: 'localhost', port: 6379 });
    assert.throws(() => peerRedisOf('redis://:secret@127.0.0.1:6379'), /host and port only/);
    assert.throws(() => peerRedisOf('rediss://127.0.0.1:6379'), /plain redis/);
  });

  test("when MariaDB's URL carries credentials, then the JDBC URL names the run's database and they go apart", () => {
    assert.deepEqual(peerJdbcOf('mysql://root@127.0.0.1:3306', 'nuri_peer_coupon_bench_ab12'), {
      url: 'jdbc:mysql://127.0.0.1:3306/nuri_peer_coupon_bench_ab12',
      username: 'root',
      password: '',
    });
    assert.deepEqual(peerJdbcOf('mariadb://bench:p%40ss@db:3307', 'x'), {
      url: 'jdbc:mysql://db:3307/x',
      username: 'bench',
      password: 'p@ss',
    });
  });

  test('when the seed is started, then every place it connects to and the JSON it needs on Kafka are given as properties', () => {
    const args = peerArguments({
      port: 18082,
      redis: { host: '127.0.0.1', port: 6379 },
      jdbc: { url: 'jdbc:mysql://127.0.0.1:3306/x', username: 'root', password: '' },
      brokers: ['127.0.0.1:9092', '127.0.0.1:9093'],
    });
    for (const expected of [
      '--server.port=18082',
      '--spring.data.redis.host=127.0.0.1',
      '--spring.data.redis.port=6379',
      '--spring.datasource.url=jdbc:mysql://127.0.0.1:3306/x',
      '--spring.datasource.username=root',
      '--spring.datasource.password=',
      '--spring.kafka.bootstrap-servers=127.0.0.1:9092,127.0.0.1:9093',
      '--spring.kafka.producer.value-serializer=org.springframework.kafka.support.serializer.JsonSerializer',
      '--spring.kafka.consumer.value-deserializer=org.springframework.kafka.support.serializer.JsonDeserializer',
      '--spring.kafka.consumer.auto-offset-reset=earliest',
      '--spring.jpa.hibernate.ddl-auto=update',
    ]) {
      assert.ok(args.includes(expected), expected);
    }
    assert.ok(args.every((arg) => arg.startsWith('--')));
  });
});

/**
 * A local serverless plugin (serverless.yml: plugins) that fails before anything runs or ships:
 * - package / deploy: the function's environment and the policy named by RISKHOOK_POLICY are checked
 *   as a cold start would (lib/config), and that policy file is bundled at the path the function reads
 *   (a file outside the service is copied in, and RISKHOOK_POLICY points at the copy);
 * - offline (npm start): the configuration the handler will see is checked before "Server ready";
 *   each offline run builds into a folder of its own, so `npm run package` or a second instance does
 *   not delete the code a running server loads.
 * Listed before serverless-esbuild, whose hooks on the same events must run after these.
 */
'use strict';
const { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } = require('node:fs');
const path = require('node:path');
const tsx = require('tsx/cjs/api');

/** Where a policy from outside the service is copied, inside the zip. */
const OUTSIDE_POLICY_DIR = '.policy-bundle';
/** One build folder per offline process; removed when it exits. */
const OFFLINE_WORK_DIR = '.esbuild-offline';

function isRunning(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

class RiskhookPlugin {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.options = options;
    this.log = log;
    this.serviceDir = serverless.config.serviceDir || serverless.config.servicePath || process.cwd();
    const command = (serverless.processedInput && serverless.processedInput.commands) || [];
    if (command[0] === 'offline') this.useOwnOfflineBuildFolder();
    let offlineChecked = false;
    const checkOffline = () => {
      if (offlineChecked) return;
      offlineChecked = true;
      this.checkOffline();
    };
    this.hooks = {
      'before:offline:start': checkOffline,
      'before:offline:start:init': checkOffline,
      'before:package:createDeploymentArtifacts': () => this.checkAndBundle(),
      'before:deploy:function:packageFunction': () => this.checkAndBundle(),
      'after:package:createDeploymentArtifacts': () => rmSync(path.join(this.serviceDir, OUTSIDE_POLICY_DIR), { recursive: true, force: true }),
    };
  }

  config() {
    return tsx.require('../lib/config.ts', __filename);
  }

  fail(message) {
    throw new this.serverless.classes.Error(message);
  }

  /** The environment a function gets from serverless.yml (provider, then function), values as text. */
  functionEnvironment(fn) {
    const env = {};
    for (const [name, value] of Object.entries({ ...this.serverless.service.provider.environment, ...(fn && fn.environment) })) {
      if (value !== undefined && value !== null) env[name] = String(value);
    }
    return env;
  }

  riskhookFunctions() {
    const service = this.serverless.service;
    const names = this.options.function ? [this.options.function] : service.getAllFunctions();
    return names.map((name) => [name, service.getFunction(name)]).filter(([, fn]) => fn.handler);
  }

  checkOffline() {
    const { ConfigError } = tsx.require('../lib/errors.ts', __filename);
    for (const [name, fn] of this.riskhookFunctions()) {
      // serverless-offline (useInProcess) gives the handler this process's environment plus serverless.yml's.
      const env = { ...process.env, ...this.functionEnvironment(fn), IS_OFFLINE: 'true' };
      try {
        this.config().loadConfig(env);
      } catch (error) {
        if (error instanceof ConfigError) this.fail(`riskhook function "${name}": ${error.message}`);
        throw error;
      }
    }
  }

  checkAndBundle() {
    const service = this.serverless.service;
    const { ConfigError } = tsx.require('../lib/errors.ts', __filename);
    for (const [name, fn] of this.riskhookFunctions()) {
      const env = this.functionEnvironment(fn);
      const timeout = fn.timeout || service.provider.timeout || 6;
      if (env.RISKHOOK_FUNCTION_TIMEOUT_S !== undefined && Number(env.RISKHOOK_FUNCTION_TIMEOUT_S) !== Number(timeout)) {
        this.fail(`riskhook function "${name}": RISKHOOK_FUNCTION_TIMEOUT_S is ${env.RISKHOOK_FUNCTION_TIMEOUT_S} but the function's timeout is ${timeout} s`);
      }
      const policy = env.RISKHOOK_POLICY && env.RISKHOOK_POLICY.trim() ? env.RISKHOOK_POLICY : 'policies/default.yaml';
      const source = path.resolve(this.serviceDir, policy);
      try {
        this.config().checkDeployEnvironment({ ...env, RISKHOOK_POLICY: source, RISKHOOK_FUNCTION_TIMEOUT_S: String(timeout) });
      } catch (error) {
        if (error instanceof ConfigError) this.fail(`riskhook function "${name}": ${error.message}`);
        throw error;
      }
      const inZip = this.bundlePolicy(source);
      fn.environment = { ...fn.environment, RISKHOOK_POLICY: inZip };
      if (this.log) this.log.notice(`riskhook: function "${name}" reads policy ${inZip} (from ${policy}), checked`);
    }
  }

  /** Adds the policy to the package; returns its path inside the zip (relative: the function's working directory is the zip's root). */
  bundlePolicy(source) {
    const service = this.serverless.service;
    let inZip = path.relative(this.serviceDir, source).split(path.sep).join('/');
    if (inZip.startsWith('../') || path.isAbsolute(inZip) || inZip.startsWith('node_modules/')) {
      inZip = `${OUTSIDE_POLICY_DIR}/${path.basename(source)}`;
      mkdirSync(path.join(this.serviceDir, OUTSIDE_POLICY_DIR), { recursive: true });
      copyFileSync(source, path.join(this.serviceDir, inZip));
    }
    service.package = service.package || {};
    const patterns = service.package.patterns || [];
    if (!patterns.includes(inZip)) service.package.patterns = [...patterns, inZip];
    return inZip;
  }

  useOwnOfflineBuildFolder() {
    const custom = (this.serverless.service.custom = this.serverless.service.custom || {});
    custom.esbuild = custom.esbuild || {};
    const folder = `${OFFLINE_WORK_DIR}/${process.pid}`;
    custom.esbuild.outputWorkFolder = folder;
    // A process stopped by a signal gets no 'exit' event: each start also removes the folders of runs that are gone.
    const root = path.join(this.serviceDir, OFFLINE_WORK_DIR);
    for (const pid of existsSync(root) ? readdirSync(root) : []) {
      if (/^\d+$/.test(pid) && !isRunning(Number(pid))) rmSync(path.join(root, pid), { recursive: true, force: true });
    }
    process.once('exit', () => rmSync(path.join(this.serviceDir, folder), { recursive: true, force: true }));
  }
}

module.exports = RiskhookPlugin;

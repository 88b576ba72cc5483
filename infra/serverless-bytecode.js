'use strict';
// A local Serverless Framework plugin: after serverless-python-requirements has put the
// requirements into the artifact and before the Framework hashes it (CodeSha256), compile every
// module of the zip for the functions' runtime (infra/compile_artifact.py, run by LAMBDA_PYTHON:
// python3.12), so no cold start compiles a module (Lambda's package is read-only).
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

class LambdaBytecode {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'after:package:createDeploymentArtifacts': () => this.compile() };
  }

  compile() {
    const service = this.serverless.service;
    const root = this.serverless.serviceDir;
    const artifacts = [service.package.artifact]
      .concat(Object.values(service.functions).map((fn) => fn.package && fn.package.artifact))
      .filter(Boolean)
      .map((artifact) => path.resolve(root, artifact));
    const unique = [...new Set(artifacts)].filter((artifact) => fs.existsSync(artifact));
    if (unique.length === 0) {
      throw new Error('serverless-bytecode: no artifact to compile was packaged');
    }
    const python = process.env.LAMBDA_PYTHON || 'python3.12';
    const script = path.join(__dirname, 'compile_artifact.py');
    execFileSync(python, [script, ...unique, '--runtime', service.provider.runtime], {
      stdio: 'inherit',
    });
  }
}

module.exports = LambdaBytecode;

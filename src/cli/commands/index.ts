/**
 * Every command of the CLI, in the order `dv --help` lists them. A command file exports
 * `register(program, ctx)`: it defines the command with commander and renders its result.
 */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import * as add from './add.js';
import * as attest from './attest.js';
import * as audit from './audit.js';
import * as cat from './cat.js';
import * as checkout from './checkout.js';
import * as commit from './commit.js';
import * as config from './config.js';
import * as dag from './dag.js';
import * as diff from './diff.js';
import * as exp from './exp.js';
import * as fetch from './fetch.js';
import * as fsck from './fsck.js';
import * as gc from './gc.js';
import * as get from './get.js';
import * as init from './init.js';
import * as install from './install.js';
import * as lineage from './lineage.js';
import * as usedBy from './used-by.js';
import * as log from './log.js';
import * as ls from './ls.js';
import * as metrics from './metrics.js';
import * as move from './move.js';
import * as params from './params.js';
import * as plots from './plots.js';
import * as pull from './pull.js';
import * as push from './push.js';
import * as remote from './remote.js';
import * as remove from './remove.js';
import * as repro from './repro.js';
import * as serve from './serve.js';
import * as stage from './stage.js';
import * as status from './status.js';
import * as ui from './ui.js';

export type Register = (program: Command, ctx: CliContext) => void;

export const COMMAND_FILES: { register: Register }[] = [
  init,
  add,
  remove,
  move,
  commit,
  status,
  checkout,
  log,
  diff,
  ls,
  cat,
  serve,
  ui,
  gc,
  fsck,
  remote,
  push,
  fetch,
  pull,
  get,
  install,
  stage,
  repro,
  lineage,
  usedBy,
  dag,
  metrics,
  params,
  plots,
  exp,
  attest,
  audit,
  config,
];

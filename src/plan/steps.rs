//! Stage contents: ARG values as a stage sees them, and each instruction
//! turned into a [`Step`] with its words expanded in the right scope.

use super::config_edit::{config_edit, join_workdir, ConfigEditError, EditContext};
use super::history;
use super::op::{
    AddOptions, BindMount, CacheMount, CopyOp, CopySource, MountKind, MountOp, MountOwner, Network, Op, RunOp, SecretMount, Sharing, SourceRoot, SshMount,
    Step, TmpfsMount,
};
use super::scope::{BuildArgs, GlobalArgs, Scope};
use super::stages::{resolve, Base, FromRef, StageNode};
use super::PlanError;
use crate::image::Platform;
use crate::image::{ConfigChange, ContainerConfig, ImageConfig};
use crate::syntax::instruction::{Add, ArgDecl, Command, Copy, Mount, MountType, NetworkMode, Run, Security, Sharing as SyntaxSharing, Source};
use crate::syntax::{Dockerfile, Heredoc, Instruction, Located, Span};
use crate::words::{ExpandError, Lexer};

/// The value `ARG name[=default]` gives inside a stage: the `--build-arg`,
/// else the default expanded in the current scope, else the global value.
pub fn arg_value(lexer: &Lexer, arg: &ArgDecl, scope: &Scope, globals: &GlobalArgs, build_args: &BuildArgs) -> Result<Option<String>, ExpandError> {
    if let Some(value) = build_args.take(&arg.name) {
        return Ok(Some(value.to_owned()));
    }
    if let Some(default) = &arg.default {
        return lexer.expand_word(default, scope).map(Some);
    }
    Ok(globals.values.iter().rev().find(|(k, _)| *k == arg.name).map(|(_, v)| v.clone()))
}

/// The global scope: predefined platform ARGs, then each ARG before the
/// first FROM (build-arg, else default expanded against what came before).
pub fn global_args(lexer: &Lexer, declared: &[ArgDecl], predefined: Vec<(String, String)>, build_args: &BuildArgs) -> Result<GlobalArgs, ExpandError> {
    let mut values = predefined;
    for arg in declared {
        let value = match build_args.take(&arg.name) {
            Some(value) => Some(value.to_owned()),
            None => match &arg.default {
                Some(default) => Some(lexer.expand_word(default, &values)?),
                None => None,
            },
        };
        values.retain(|(k, _)| *k != arg.name);
        if let Some(value) = value {
            values.push((arg.name.clone(), value));
        }
    }
    Ok(GlobalArgs { values })
}

/// Where the configs of base images come from (the store, a registry).
pub trait BaseImages {
    /// The config of `image` (a reference as written, expanded) for
    /// `platform`, the stage's (a name may hold several platforms).
    fn config(&self, image: &str, platform: &Platform) -> Result<ImageConfig, BaseImageError>;
}

/// Why a [`BaseImages`] source has no config for an image. The causes are
/// typed by the modules that look images up (store, registry); planning
/// only reports them.
#[derive(Debug, thiserror::Error)]
pub enum BaseImageError {
    /// The image could not be fetched (pulled) into the store.
    #[error("{0}")]
    Fetch(Box<dyn std::error::Error + Send + Sync>),
    /// The image is not where configs are looked up, or is unreadable there.
    #[error("{0}")]
    Lookup(Box<dyn std::error::Error + Send + Sync>),
    /// No such image (sources that know no more than that).
    #[error("not found")]
    NotFound,
    /// The stored image is for another platform than the stage builds for.
    #[error(transparent)]
    WrongPlatform(Box<PlatformMismatch>),
}

/// A base image stored for another platform than its stage builds for.
#[derive(Debug, thiserror::Error)]
#[error("the stored image is {stored}, the stage builds for {wanted} (run `strata pull --platform {wanted} {image}`, or `strata import --platform {wanted}`)")]
pub struct PlatformMismatch {
    /// The image as named.
    pub image: String,
    /// The platform its config names.
    pub stored: String,
    /// The stage's platform.
    pub wanted: Platform,
}

/// One stage, planned: its base, its steps and the config it ends with.
#[derive(Debug, Clone)]
pub struct StagePlan {
    /// Position in the Dockerfile, from 0.
    pub index: usize,
    /// `AS name`, lower-cased; `None`: unnamed.
    pub name: Option<String>,
    /// What the stage starts from.
    pub base: Base,
    /// The platform the stage builds for (its RUNs run as this platform).
    pub platform: Platform,
    /// The base's image config (a stage base: that stage's final config).
    pub base_config: ImageConfig,
    /// The steps, ONBUILD triggers of the base first.
    pub steps: Vec<Step>,
    /// The config after every step (history not included).
    pub config: ContainerConfig,
    /// The image's `author`: MAINTAINER if any, else the base's.
    pub author: Option<String>,
}

/// Plans one stage; `planned` holds the stages it depends on.
pub fn plan_stage(
    file: &Dockerfile,
    node: &StageNode,
    names: &[Option<String>],
    globals: &GlobalArgs,
    build_args: &BuildArgs,
    planned: &[Option<StagePlan>],
    images: &dyn BaseImages,
) -> Result<StagePlan, PlanError> {
    let stage = &file.stages[node.index];
    let base_config = match &node.base {
        Base::Scratch => scratch_for(&node.platform),
        Base::Stage(dep) => {
            // Planned in dependency order: a missing one is a bug, reported.
            let dep = planned
                .get(*dep)
                .and_then(Option::as_ref)
                .ok_or(PlanError::Unsupported { reason: format!("stage {dep} was needed before it was planned"), span: stage.from.span })?;
            ImageConfig { config: dep.config.clone(), author: dep.author.clone(), ..dep.base_config.clone() }
        }
        Base::Image(image) => {
            let config = images.config(image, &node.platform).map(ImageConfig::as_stage_base).map_err(|cause| PlanError::BaseImage {
                image: image.clone(),
                cause,
                span: stage.from.span,
            })?;
            check_base_platform(image, &config, &node.platform).map_err(|cause| PlanError::BaseImage { image: image.clone(), cause, span: stage.from.span })?;
            config
        }
    };
    let mut planner = Planner {
        lexer: Lexer::new(file.directives.escape),
        scope: Scope::new(base_config.config.env.as_deref().unwrap_or_default()),
        config: base_config.config.clone(),
        author: base_config.author.clone(),
        globals,
        build_args,
        names,
        index: node.index,
        steps: Vec::new(),
        stage_args: Vec::new(),
        cmd_set: false,
    };
    let triggers = planner.config.on_build.take().unwrap_or_default();
    for trigger in &triggers {
        let instruction = parse_trigger(trigger).map_err(|reason| PlanError::Trigger { trigger: trigger.clone(), reason, span: stage.from.span })?;
        let located = Located { value: instruction, span: stage.from.span, lines: stage.from.lines, original: trigger.clone() };
        planner.instruction(&located)?;
    }
    for located in &stage.instructions {
        planner.instruction(located)?;
    }
    Ok(StagePlan {
        index: node.index,
        name: node.name.clone(),
        base: node.base.clone(),
        platform: node.platform.clone(),
        base_config,
        steps: planner.steps,
        config: planner.config,
        author: planner.author,
    })
}

/// A `FROM scratch` config for the stage's platform.
fn scratch_for(platform: &Platform) -> ImageConfig {
    let mut config = ImageConfig::scratch("");
    config.os.clone_from(&platform.os);
    config.architecture.clone_from(&platform.architecture);
    config.variant.clone_from(&platform.variant);
    config
}

/// A stage for another platform than the host's must not start from an
/// image of the wrong one: the store holds one platform per name, and
/// running amd64 binaries as "arm64" would build a lying image. Host
/// stages keep accepting any base, as before.
fn check_base_platform(image: &str, config: &ImageConfig, platform: &Platform) -> Result<(), BaseImageError> {
    if platform.is_host() || (config.os == platform.os && config.architecture == platform.architecture) {
        return Ok(());
    }
    Err(BaseImageError::WrongPlatform(Box::new(PlatformMismatch {
        image: image.to_owned(),
        stored: format!("{}/{}", config.os, config.architecture),
        wanted: platform.clone(),
    })))
}

fn parse_trigger(trigger: &str) -> Result<Instruction, String> {
    let ast = crate::syntax::parse_ast(trigger).map_err(|e| e.to_string())?;
    let [node] = ast.nodes.as_slice() else { return Err("expected one instruction".into()) };
    crate::syntax::instruction::instruction(node).map_err(|e| e.to_string())
}

struct Planner<'a> {
    lexer: Lexer,
    scope: Scope,
    config: ContainerConfig,
    author: Option<String>,
    globals: &'a GlobalArgs,
    build_args: &'a BuildArgs,
    names: &'a [Option<String>],
    index: usize,
    steps: Vec<Step>,
    /// ARG names declared in the stage, in order (a name declared twice is
    /// listed twice, as BuildKit lists it).
    stage_args: Vec<String>,
    /// Whether the stage has a CMD yet (then ENTRYPOINT keeps it).
    cmd_set: bool,
}

impl Planner<'_> {
    fn instruction(&mut self, located: &Located<Instruction>) -> Result<(), PlanError> {
        let span = located.span;
        let expand_err = |e| PlanError::expand(span, e);
        let (op, created_by) = match &located.value {
            Instruction::Arg { args } => {
                let mut entry = Vec::new();
                for arg in args {
                    let value = arg_value(&self.lexer, arg, &self.scope, self.globals, self.build_args).map_err(expand_err)?;
                    let default = arg.default.as_ref().map(|d| self.lexer.expand_word(d, &self.scope)).transpose().map_err(expand_err)?;
                    entry.push((arg.name.clone(), default));
                    self.scope.declare_arg(&arg.name, value);
                    self.stage_args.push(arg.name.clone());
                }
                (Op::Arg, Some(history::arg_entry(&entry)))
            }
            Instruction::Maintainer { name } => {
                self.author = Some(name.clone());
                (Op::Author { name: name.clone() }, Some(history::maintainer_entry(name)))
            }
            Instruction::Copy(copy) => {
                let op = self.copy(copy, located)?;
                let entry = history::copy_entry(false, &op.sources, &self.word(&copy.dest, span)?);
                (Op::Copy(op), Some(entry))
            }
            Instruction::Add(add) => {
                let op = self.add(add, located)?;
                let entry = history::copy_entry(true, &op.sources, &self.word(&add.dest, span)?);
                (Op::Copy(op), Some(entry))
            }
            Instruction::Run(run) => {
                let op = self.run(run, located)?;
                let entry = history::run_entry(&op.argv, &self.stage_arg_values(&op));
                (Op::Run(op), Some(entry))
            }
            other => self.config_step(other, span)?,
        };
        self.steps.push(Step { op, lines: located.lines, span, text: located.original.clone(), created_by });
        Ok(())
    }

    /// CMD, ENV, WORKDIR and the other instructions that edit the config.
    fn config_step(&mut self, instruction: &Instruction, span: Span) -> Result<(Op, Option<String>), PlanError> {
        let cx = EditContext { lexer: self.lexer, vars: &self.scope, config: &self.config, cmd_set: self.cmd_set };
        let change = config_edit(instruction, &cx).map_err(|e| match e {
            ConfigEditError::Expand(e) => PlanError::expand(span, e),
            other => PlanError::Unsupported { reason: other.to_string(), span },
        })?;
        change.apply_in_build(&mut self.config);
        match &change {
            ConfigChange::Env(vars) => {
                for (key, value) in vars {
                    self.scope.set_env(key, value);
                }
            }
            ConfigChange::Cmd(_) => self.cmd_set = true,
            _ => {}
        }
        let entry = history::config_entry(&change);
        Ok(match change {
            ConfigChange::Workdir(path) => (Op::Workdir { path, user: self.config.user.clone().filter(|u| !u.is_empty()) }, entry),
            change => (Op::Config { change }, entry),
        })
    }

    /// Every ARG the stage declared so far, in order, with the value `run`
    /// sees (empty when none): BuildKit's prefix of a RUN's history entry.
    fn stage_arg_values(&self, run: &RunOp) -> Vec<(String, String)> {
        self.stage_args
            .iter()
            .map(|name| {
                let value = run.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
                (name.clone(), value)
            })
            .collect()
    }

    fn word(&self, text: &str, span: Span) -> Result<String, PlanError> {
        self.lexer.expand_word(text, &self.scope).map_err(|e| PlanError::expand(span, e))
    }

    fn opt_word(&self, text: Option<&String>, span: Span) -> Result<Option<String>, PlanError> {
        text.map(|t| self.word(t, span)).transpose()
    }

    fn source_root(&self, from: Option<&String>, span: Span) -> Result<SourceRoot, PlanError> {
        let Some(from) = from else { return Ok(SourceRoot::Context) };
        let mut vars = self.globals.values.clone();
        vars.extend(self.scope.args.iter().cloned());
        let value = self.lexer.expand_word(from, &vars).map_err(|e| PlanError::expand(span, e))?;
        match resolve(&value, self.names, self.index) {
            Some(FromRef::Stage(stage)) => Ok(SourceRoot::Stage(stage)),
            Some(FromRef::Image(image)) => Ok(SourceRoot::Image(image)),
            None => Err(PlanError::StageIndex { value, span }),
        }
    }

    fn sources(&self, sources: &[Source], span: Span, urls: bool) -> Result<Vec<CopySource>, PlanError> {
        sources
            .iter()
            .map(|source| match source {
                Source::Heredoc { heredoc } => {
                    let body = heredoc.body();
                    let content = if heredoc.expand { self.word(&body, span)? } else { body };
                    Ok(CopySource::Inline { name: heredoc.name.clone(), content })
                }
                Source::Path { path } => {
                    let path = self.word(path, span)?;
                    if urls && (path.starts_with("http://") || path.starts_with("https://")) {
                        Ok(CopySource::Url { url: path })
                    } else {
                        Ok(CopySource::Path { path })
                    }
                }
            })
            .collect()
    }

    /// The destination, absolute and clean: relative ones continue from
    /// WORKDIR; a trailing `/` (or a final `.`) is kept as a trailing `/`.
    fn dest(&self, dest: &str, span: Span) -> Result<String, PlanError> {
        let dest = self.word(dest, span)?;
        let workdir = self.config.workdir();
        let into_dir = dest.ends_with('/') || dest.ends_with("/.") || dest == "." || dest.is_empty();
        let mut joined = join_workdir(workdir, &dest);
        if into_dir && !joined.ends_with('/') {
            joined.push('/');
        }
        Ok(joined)
    }

    fn copy(&self, copy: &Copy, located: &Located<Instruction>) -> Result<CopyOp, PlanError> {
        let span = located.span;
        Ok(CopyOp {
            from: self.source_root(copy.from.as_ref(), span)?,
            sources: self.sources(&copy.sources, span, false)?,
            dest: self.dest(&copy.dest, span)?,
            chown: self.opt_word(copy.chown.as_ref(), span)?,
            chmod: self.opt_word(copy.chmod.as_ref(), span)?,
            link: copy.link,
            parents: copy.parents,
            exclude: copy.exclude.iter().map(|e| self.word(e, span)).collect::<Result<_, _>>()?,
            add: None,
        })
    }

    fn add(&self, add: &Add, located: &Located<Instruction>) -> Result<CopyOp, PlanError> {
        let span = located.span;
        Ok(CopyOp {
            from: SourceRoot::Context,
            sources: self.sources(&add.sources, span, true)?,
            dest: self.dest(&add.dest, span)?,
            chown: self.opt_word(add.chown.as_ref(), span)?,
            chmod: self.opt_word(add.chmod.as_ref(), span)?,
            link: add.link,
            parents: false,
            exclude: add.exclude.iter().map(|e| self.word(e, span)).collect::<Result<_, _>>()?,
            add: Some(AddOptions { checksum: self.opt_word(add.checksum.as_ref(), span)?, keep_git_dir: add.keep_git_dir, unpack: add.unpack.unwrap_or(true) }),
        })
    }

    /// A mount's target and id, expanded. Bind, cache and tmpfs mounts land
    /// at their target joined to the working directory (no target: the
    /// working directory itself), never on `/`; a cache's id defaults to the
    /// target as written, cleaned, as BuildKit keys it. Secrets and ssh keep
    /// their own defaults (resolved when the step runs).
    ///
    /// See: BuildKit `dockerfile2llb/convert_runmount.go`, `dispatchRunMounts`.
    fn mount_target(&self, kind: MountKind, target: Option<&String>, id: Option<&String>, span: Span) -> Result<(Option<String>, Option<String>), PlanError> {
        let target = self.opt_word(target, span)?;
        let id = self.opt_word(id, span)?;
        if matches!(kind, MountKind::Secret | MountKind::Ssh) {
            return Ok((target, id));
        }
        let written = target.unwrap_or_default();
        let resolved = join_workdir(self.config.workdir(), &written);
        if resolved == "/" {
            return Err(PlanError::MountTarget { target: resolved, span });
        }
        let id = match (kind, id) {
            (MountKind::Cache, None) => Some(go_clean(&written)),
            (_, id) => id,
        };
        Ok((Some(resolved), id))
    }

    /// One `--mount`, expanded into its kind's payload.
    fn mount(&self, mount: &Mount, span: Span) -> Result<MountOp, PlanError> {
        let kind = match mount.kind {
            MountType::Bind => MountKind::Bind,
            MountType::Cache => MountKind::Cache,
            MountType::Tmpfs => MountKind::Tmpfs,
            MountType::Secret => MountKind::Secret,
            MountType::Ssh => MountKind::Ssh,
        };
        let (target, id) = self.mount_target(kind, mount.target.as_ref(), mount.id.as_ref(), span)?;
        let owner = MountOwner {
            mode: self.opt_word(mount.mode.as_ref(), span)?,
            uid: self.opt_word(mount.uid.as_ref(), span)?,
            gid: self.opt_word(mount.gid.as_ref(), span)?,
        };
        let source = self.opt_word(mount.source.as_ref(), span)?;
        let from = self.source_root(mount.from.as_ref(), span)?;
        let (readonly, required) = (mount.readonly, mount.required);
        Ok(match kind {
            MountKind::Bind => MountOp::Bind(BindMount { target: target.unwrap_or_default(), source, from, readonly }),
            MountKind::Cache => {
                let sharing = match mount.sharing {
                    Some(SyntaxSharing::Private) => Sharing::Private,
                    Some(SyntaxSharing::Locked) => Sharing::Locked,
                    _ => Sharing::Shared,
                };
                MountOp::Cache(CacheMount { target: target.unwrap_or_default(), id: id.unwrap_or_default(), source, from, readonly, sharing, owner })
            }
            MountKind::Tmpfs => MountOp::Tmpfs(TmpfsMount { target: target.unwrap_or_default(), size: self.opt_word(mount.size.as_ref(), span)? }),
            MountKind::Secret => {
                let env = self.opt_word(mount.env.as_ref(), span)?;
                MountOp::Secret(SecretMount { target, id, required, env, readonly, owner })
            }
            MountKind::Ssh => MountOp::Ssh(SshMount { target, id, required, readonly, owner }),
        })
    }

    fn run(&self, run: &Run, located: &Located<Instruction>) -> Result<RunOp, PlanError> {
        let span = located.span;
        let argv = match &run.command {
            Command::Exec { args } => args.clone(),
            Command::Shell { script } => {
                let mut argv = self.config.shell.clone().unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                argv.push(shell_script(script, &run.heredocs));
                argv
            }
        };
        let mut env = self.build_args.proxies();
        env.extend(self.scope.run_env());
        let mounts = run.mounts.iter().map(|mount| self.mount(mount, span)).collect::<Result<_, _>>()?;
        Ok(RunOp {
            argv,
            env,
            user: self.config.user.clone().filter(|u| !u.is_empty()),
            workdir: self.config.workdir().to_owned(),
            network: match run.network {
                Some(NetworkMode::None) => Network::None,
                Some(NetworkMode::Host) => Network::Host,
                _ => Network::Default,
            },
            insecure: matches!(run.security, Some(Security::Insecure)),
            mounts,
        })
    }
}

/// Go's `path.Clean`: lexical, keeps a relative path relative, `""` is `.`.
fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            other => parts.push(other),
        }
    }
    match (rooted, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".into(),
        (false, false) => parts.join("/"),
    }
}

/// A shell-form RUN with heredocs: the shell gets the command line and each
/// heredoc (body and terminator) after it, and handles them itself, as
/// BuildKit arranges it. `RUN <<EOF` alone runs the body as the script.
fn shell_script(script: &str, heredocs: &[Heredoc]) -> String {
    if let [only] = heredocs {
        let marker = script.trim();
        if marker.starts_with("<<") && marker.trim_start_matches("<<").trim_start_matches('-').trim_matches(['"', '\'']) == only.name {
            return only.body();
        }
    }
    let mut full = script.to_owned();
    for heredoc in heredocs {
        full.push('\n');
        full.push_str(&heredoc.content);
        full.push_str(&heredoc.name);
    }
    full
}

# ruff: noqa: E501, RUF001  (documentation text, one row per line as it is rendered)
"""The documentation of every condition reason: `docs/conditions.md` is rendered from these rows.

Each row: the condition types it applies to ("*": any), the status(es), the reasons, what it means and what
to do. `tests/unit/test_conditions.py` checks that every reason a type may carry has a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from cocoon_operator.conditions import BY_TYPE, REGISTRY, ConditionType, Reason


@dataclass(frozen=True)
class ReasonDoc:
    types: tuple[str, ...]  # ConditionType values, or "*" for any
    status: tuple[str, ...]
    reasons: tuple[Reason, ...]
    meaning: str
    action: str


R = Reason
# fmt: off
ROWS: tuple[ReasonDoc, ...] = (
    ReasonDoc(('Ready',), ('True',), (R.RECONCILED,),
              'placed and serving; for `placement.tee: SEV-SNP` the message adds that the official COCOON network accepts TDX workers only today',
              'nothing (an SEV-SNP worker earns only on a network whose root lists its measurement)'),
    ReasonDoc(('Ready',), ('Unknown',), (R.RECONCILING,),
              'a required condition has not been observed yet',
              'wait a few seconds'),
    ReasonDoc(('Ready',), ('False',), (R.PAUSED,),
              '`spec.paused: true`; StatefulSet at 0 replicas, wallet and ledger kept',
              'set `paused: false` to resume'),
    ReasonDoc(('Configured',), ('True',), (R.RESOLVED,),
              'spec and references are fine; in test mode (`worker.mode: Test`) the message adds that the proxies do not check the worker image hash',
              'nothing'),
    ReasonDoc(('Configured',), ('False',), (R.IMAGE_HASH_NOT_ALLOWED,),
              "a production worker (`worker.mode: Production`): `spec.imageHash` is missing or not among the root contract's worker hashes; the official runner would abort on every tick. No worker pod, no funding; the message names the hash and the root",
              "set `spec.imageHash` to the TDX measurement the root lists (the official worker VM's, see docs/worker-pod.md)"),
    ReasonDoc(('Configured',), ('False',), (R.UNKNOWN_CONTRACT_CODE,),
              "the root's code, or the worker/proxy code in its params, is not the official COCOON code; the message names each hash. No money moves, no worker pod",
              'check the root address; for a private network with its own contracts, list the hashes in `spec.network.trustedCodeHashes`'),
    ReasonDoc(('Configured',), ('False',), (R.IMAGE_NOT_ALLOWED,),
              "`spec.worker.image` or `spec.inference.image` is outside the admin's image policy (chart values `imagePolicy.*`; the runner image gets the wallet key). The chart's admission policy refuses such a CocoonNode already; the operator checks again for one admitted before the policy was tightened (or installed without it): the worker StatefulSet is scaled to zero, nothing else is applied or funded, a Warning Event is posted once. The message names the field, the image and what is allowed",
              'use an allowed image, or ask the cluster admin to list it'),
    ReasonDoc(('Configured',), ('False',), (R.INVALID_SPEC,),
              'the spec passed the CRD but the operator could not use it (message lists `spec.<field>: problem`)',
              'fix the named field; nothing was created'),
    ReasonDoc(('Configured',), ('False',), (R.INVALID_TON_ADDRESS,),
              '`spec.ownerAddress` or `spec.network.rootContractAddress` has a bad checksum or workchain',
              'copy the address again from the wallet; the field is immutable, so delete and re-create the CocoonNode'),
    ReasonDoc(('Configured',), ('False',), (R.CONFIG_MAP_NOT_FOUND,),
              '`spec.network.globalConfigRef` names a ConfigMap that does not exist in the namespace',
              'create it (see `examples/ton-global-config.yaml`)'),
    ReasonDoc(('Configured',), ('False',), (R.CONFIG_KEY_MISSING,),
              'the ConfigMap lacks the key (default `global.config.json`)',
              'add the key or set `globalConfigRef.key`'),
    ReasonDoc(('Configured',), ('False',), (R.WALLET_SECRET_NOT_OWNED,),
              "`spec.wallet.secretRef` names a Secret that is not this CocoonNode's: the operator made it for another CocoonNode (annotation `cocoon.tonops.dev/bound-uid` holds another UID), or nobody made it for this one (no bound UID, and no admin's `cocoon.tonops.dev/adopt-for: <this name>`). No workload mounts it, nothing is funded, deletion does no chain work with it; an existing worker StatefulSet is scaled to zero. The message says nothing about the key. A `WalletSecretNotOwned` Warning Event is posted once",
              'use a Secret name of your own (the operator generates the key), or ask a cluster admin to adopt the Secret for this CocoonNode (`kubectl annotate secret <name> cocoon.tonops.dev/adopt-for=<cocoonnode>`; see security.md)'),
    ReasonDoc(('Configured',), ('False',), (R.INVALID_WALLET_SECRET,),
              'the wallet Secret exists but `node_wallet_key` is missing or not base64 of 32 bytes',
              'fix the Secret; the operator never overwrites an existing key'),
    ReasonDoc(('Configured',), ('False',), (R.TREASURY_SECRET_NOT_FOUND,),
              '`spec.funding.treasurySecretRef` names a missing Secret',
              'create it or remove `spec.funding`'),
    ReasonDoc(('Configured',), ('False',), (R.NAME_CONFLICT,),
              "an object with one of the children's names (`<name>` StatefulSet, Service, PodDisruptionBudget, NetworkPolicy; `<name>-runner` ConfigMap) exists and its ownerReferences do not carry this CocoonNode's UID; the message names it and its owner. The operator leaves it exactly as it is (every apply of a child carries a precondition the API server checks) and stops this reconcile there: nothing after it is applied, no provider runs. A `NameConflict` Warning Event is posted once",
              'delete or rename that object, or give the CocoonNode another name; it recovers by itself once the name is free'),
    ReasonDoc(('Scheduled',), ('True',), (R.POD_SCHEDULED,),
              'message names the pod and node',
              'nothing'),
    ReasonDoc(('Scheduled',), ('False',), (R.NO_FITTING_NODE,),
              'no node can ever fit; the message counts which constraint excludes which nodes, e.g. `0 of 10 nodes fit: 4 are not confidential (...), 3 are NVIDIA-H100-80GB-HBM3 but NVIDIA-H200 is required, 2 lack TDX, 1 have no free nvidia.com/gpu`. No StatefulSet is created (nothing sits Pending without a reason). A `PlacementFailed` Warning Event is posted once. For a CocoonVM it counts TDX hosts (`are not TDX hosts`, `do not pass GPUs through to VMs`, `have no free <VFIO resource>`, `already run a worker VM with instance N`)',
              'relax `spec.placement` (TEE, `gpuProducts`, `nodeSelector`, tolerations) or add nodes; the operator re-checks when nodes change'),
    ReasonDoc(('Scheduled',), ('False',), (R.INSUFFICIENT_GPU,),
              "nodes fit the labels but none has a free `nvidia.com/gpu`; the pod waits for the scheduler; message has the scheduler's text and the per-node counts",
              'free a GPU or add a node; it binds by itself'),
    ReasonDoc(('Scheduled',), ('False',), (R.UNSCHEDULABLE,),
              'the scheduler rejected the pod for another reason (its message is copied)',
              'read the message (often a PVC or a taint)'),
    ReasonDoc(('Scheduled',), ('False',), (R.POD_PENDING,),
              'the pod is being created or waits for the scheduler',
              'wait'),
    ReasonDoc(('Scheduled',), ('False',), (R.NOT_CREATED,),
              'a pre-flight (e.g. the root contract does not allow the model) keeps the worker stopped; message says why',
              'fix what the message names'),
    ReasonDoc(('Scheduled',), ('False',), (R.PAUSED,),
              '`spec.paused: true`; the StatefulSet has 0 replicas',
              'set `paused: false` to resume'),
    ReasonDoc(('InferenceReady',), ('True',), (R.POD_READY,),
              "the pod is Ready (Triton's readiness probe passes)",
              'nothing'),
    ReasonDoc(('InferenceReady',), ('False',), (R.POD_NOT_READY,),
              'the pod is not Ready; message lists waiting containers (e.g. `triton CrashLoopBackOff`)',
              '`kubectl logs <name>-0 -c triton`'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.NO_POD,),
              'the worker pod does not exist yet',
              'see `Scheduled`'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.PAUSED,),
              '`spec.paused: true`',
              'set `paused: false`'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.POD_NOT_RUNNING,),
              'the pod is Pending (not scheduled, initialising, containers being created), Failed/Succeeded (e.g. Evicted), or Unknown (node lost)',
              'read the message; for scheduling see `Scheduled`'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.POD_TERMINATING,),
              'the pod is being deleted',
              'wait: the StatefulSet replaces it'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.MODEL_INTEGRITY_FAILED,),
              'the model does not match `spec.inference.modelSha256`: `fetch-model` (archive SHA-256) or `verify-model` (PVC manifest digest, see worker-pod.md §2) exited with 3; the message quotes both hashes',
              'fix the hash or the model; `kubectl logs <pod> -c fetch-model` (or `-c verify-model`)'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.MODEL_FETCH_FAILED,),
              'the `fetch-model` init container failed to download or unpack the archive',
              'check `spec.inference.modelSource.url` and egress; `kubectl logs <pod> -c fetch-model`'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.INIT_CONTAINER_FAILED,),
              'another init container (e.g. `render-config`) failed',
              '`kubectl logs <pod> -c <name>`'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.IMAGE_PULL_FAILED,),
              'an image cannot be pulled; the message names the container and the image',
              'fix `spec.inference.image` / `spec.worker.image` or the pull secrets'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.CONTAINER_CRASH_LOOPING,),
              'the container restarts again and again; the message gives the restart count and the last exit code and message',
              '`kubectl logs <pod> -c triton --previous` (Triton exits when a model fails to load) or `-c runner --previous` (the runner aborts when the root does not list its image or model hash)'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.CONTAINER_WAITING,),
              'the container is waiting (e.g. `ContainerCreating`, `CreateContainerConfigError`)',
              'read the message'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.CONTAINER_TERMINATED,),
              'the container stopped (e.g. `exit code 137 (OOMKilled)`)',
              'raise memory limits, or read the log'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('Unknown',), (R.PROBE_SKIPPED,),
              'the operator had too many probes in flight to probe this pod in this round',
              'nothing, it retries; if it persists, the operator is overloaded'),
    ReasonDoc(('Configured',), ('False',), (R.LAUNCHER_NAMESPACE_NOT_ALLOWED,),
              'CocoonVM: the namespace is not marked for launchers (chart value `launcher.namespaces`); nothing is created, a Warning Event is posted',
              'use a marked namespace, or runtime kind TritonPod'),
    ReasonDoc(('Configured',), ('False',), (R.LAUNCHER_NOT_CONFIGURED,),
              'CocoonVM: the operator has no launcher image (chart value `launcher.image`)',
              'set it'),
    ReasonDoc(('Configured',), ('False',), (R.RELEASE_NOT_CONFIGURED, R.RELEASE_NOT_ALLOWED),
              "CocoonVM: no worker release at all / `spec.runtime.vm.release.sha256` is not one the admin allowed (`launcher.release`, `launcher.allowedReleaseSha256s`)",
              "set the chart's release, or ask the admin to allow yours"),
    ReasonDoc(('Configured',), ('False',), (R.HF_TOKEN_SECRET_NOT_FOUND, R.HF_TOKEN_SECRET_KEY_MISSING),
              'CocoonVM: `spec.runtime.vm.hfTokenSecretRef` names a missing Secret or key',
              'create it'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.HOST_PREREQUISITES_MISSING,),
              'CocoonVM: the node lacks a TDX prerequisite; the message names each (kvm, tdx, iommu, iommufd, vsock, qgs, seal-server)',
              'fix the host (docs/cocoon-vm.md) or cordon it'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.RELEASE_INTEGRITY_FAILED,),
              "CocoonVM: the release archive's SHA-256 is not the expected one; both hashes in the message; nothing started",
              'fix the release URL or hash'),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.RELEASE_FETCH_FAILED,),
              'CocoonVM: the release download failed',
              "check the URL and the node's egress"),
    ReasonDoc(('InferenceReady', 'RunnerHealthy'), ('False',), (R.VM_STARTING,),
              'CocoonVM: the VM boots and loads the model (up to `spec.runtime.vm.startupTimeout`)',
              'wait; `kubectl logs <name>-0 -c launcher`'),
    ReasonDoc(('InferenceReady',), ('True',), (R.VM_SERVING,),
              'CocoonVM: the launcher runs and the runner in the VM answers on 12000 + 10 × instance',
              'nothing'),
    ReasonDoc(('InferenceReady',), ('True',), (R.SERVING,),
              'Triton is live and ready, and every model (or the configured one) is `READY`. The message names the models; request counts and queue times are metrics (`cocoon_worker_inference_*`), not message text, so the condition does not change with every request',
              'nothing'),
    ReasonDoc(('InferenceReady',), ('False',), (R.TRITON_STARTING,),
              'the container runs but has not passed its startup probe, and Triton does not answer yet. Triton opens its ports only after **every** model has loaded',
              'wait; large models take minutes. `spec.inference.startupTimeout` bounds it'),
    ReasonDoc(('InferenceReady',), ('False',), (R.TRITON_UNREACHABLE,),
              'Triton does not answer `/v2/health/live` (refused, reset, or timed out) although the container should be up',
              "`kubectl logs <pod> -c triton`; check the pod's events. The kubelet restarts a dead container"),
    ReasonDoc(('InferenceReady',), ('False',), (R.TRITON_NOT_LIVE,),
              '`/v2/health/live` answers, but not 200',
              'the liveness probe restarts it'),
    ReasonDoc(('InferenceReady',), ('False',), (R.MODEL_UNAVAILABLE,),
              "a model is `UNAVAILABLE` (its load failed) or not loaded. The message quotes Triton's reason, for example `RuntimeError: …`",
              'fix the model files or `config.pbtxt`, then **restart the pod**: Triton stays not ready after a failed load (triton.md §2)'),
    ReasonDoc(('InferenceReady',), ('False',), (R.MODEL_LOADING,),
              'a model is `LOADING`/`UNLOADING`',
              'wait'),
    ReasonDoc(('InferenceReady',), ('False',), (R.MODEL_NOT_FOUND,),
              "the configured model is not in Triton's repository; the message lists what is there",
              'check the model source and its layout `<repository>/<model>/<version>/`'),
    ReasonDoc(('InferenceReady',), ('False',), (R.NO_MODELS,),
              "Triton's repository is empty",
              'check `spec.inference.modelSource`'),
    ReasonDoc(('InferenceReady',), ('False',), (R.TRITON_NOT_READY,),
              'the server is live but `/v2/health/ready` is not 200. With strict readiness, any other model that is loading or failed keeps it so',
              'see the per-model states in `status.models`'),
    ReasonDoc(('InferenceReady',), ('False',), (R.RESPONSE_TOO_LARGE,),
              "Triton answered one of the operator's requests with more than 1 MiB (the operator reads at most that much from a pod, and never inflates a compressed answer): an honest Triton never does. The message names the path",
              'check `spec.inference.image`; the worker is unhealthy until it answers normally'),
    ReasonDoc(('RunnerHealthy',), ('True',), (R.HEALTHY,),
              'the root lists the image and the model, TON is synced (< 600 s), the wallet holds ≥ 5 TON, and a worker contract is deployed for at least one proxy. The message names the proxies and deployed worker contracts; the request rate, balance and sync age are metrics',
              'nothing'),
    ReasonDoc(('RunnerHealthy',), ('True',), (R.TON_SYNC_LATE,),
              'the last root read was 600–3600 s ago (the message gives its time, not an age, so it does not change on every probe)',
              'check the liteservers if it persists'),
    ReasonDoc(('RunnerHealthy',), ('True',), (R.WALLET_BALANCE_LOW,),
              'the cocoon wallet holds 2.1–5 TON',
              'top it up (see docs/money.md)'),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.RUNNER_UNREACHABLE,),
              '`/jsonstats` does not answer',
              '`kubectl logs <pod> -c runner`; check the NetworkPolicy for port 12000'),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.RUNNER_STARTING,),
              'the runner answers HTTP 400. Its handlers exist only after it has read the root contract from TON',
              'if it lasts: the TON global config (`spec.network.globalConfigRef`), the root address, or an access hash'),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.RUNNER_BAD_RESPONSE,),
              '`/jsonstats` is not the expected JSON',
              'check the worker image version'),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.RESPONSE_TOO_LARGE,),
              '`/jsonstats` was larger than 1 MiB, or listed more than 32 proxies (each one costs the operator chain reads): the operator stops reading at the cap, so one pod cannot exhaust the memory or time it spends on every tenant',
              'check `spec.worker.image`; an honest runner never does'),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.IMAGE_NOT_ACCEPTED,),
              "`status.actual_image_hash` is false: the root does not list this image's hash. Proxies refuse the worker, and the runner aborts on its periodic check",
              "use an image whose hash is in the root's `worker_hashes`"),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.MODEL_NOT_ACCEPTED,),
              '`status.actual_model` is false: the root does not list sha256 of `spec.model`',
              'use a model string the root allows'),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.TON_OUT_OF_SYNC,),
              'no root read for ≥ 3600 s (or never)',
              "check the liteservers in the global config and the pod's egress"),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.WALLET_BALANCE_TOO_LOW,),
              'the cocoon wallet holds < 2.1 TON. The runner waits and earns nothing. The message names the wallet and the amount missing',
              'send at least that amount to the wallet address shown'),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.NO_PROXY,),
              'the runner knows no proxy contract yet; the message shows how many proxies the root lists',
              'wait; if the root lists none, nothing can connect'),
    ReasonDoc(('RunnerHealthy',), ('False',), (R.REGISTERING,),
              'the runner has met proxies, but its worker contract is not deployed yet (`sc_inited=false`)',
              'wait; it costs 0.3 TON from the cocoon wallet'),
    ReasonDoc(('Registered',), ('False',), (R.MODEL_NOT_ALLOWED, R.NETWORK_MISMATCH, R.NO_PROXIES),
              'the root contract pre-flight failed; the message names the model and the root; no worker pod is started and the wallet is not funded (a `PreflightFailed` Warning is posted once)',
              'use a model the root lists, or the right network (`worker.mode`), or wait for a proxy'),
    ReasonDoc(('Registered',), ('False',), (R.ROOT_UNAVAILABLE,),
              'the root contract is not deployed, or its data does not parse the way the official runner reads it (e.g. params struct version outside 0–3, named in the message); no worker pod, no funding',
              'check `spec.network.rootContractAddress` and the network'),
    ReasonDoc(('Registered',), ('False',), (R.WAITING_FOR_WORKER, R.RUNNER_UNREACHABLE, R.NO_PROXY_CONNECTED),
              'the worker pod is not running yet / its runner does not answer `/jsonstats` / it has not met a proxy',
              'wait; see `InferenceReady` and the runner log'),
    ReasonDoc(('Registered',), ('False',), (R.WAITING_FOR_CURRENT_PARAMS,),
              'the root moved to a new params version and the runner has only worker contracts of older ones (named in the message); it deploys a new one when it reconnects to a proxy',
              'wait; the old contracts are paid out and closed (docs/money.md)'),
    ReasonDoc(('Registered',), ('False',), (R.WORKER_CONTRACT_NOT_DEPLOYED, R.WORKER_CONTRACT_ADDRESS_MISMATCH, R.WORKER_CONTRACT_OWNER_MISMATCH, R.WORKER_CONTRACT_PROXY_MISMATCH, R.WORKER_CONTRACT_CLOSED, R.PROXY_CONTRACT_UNREADABLE),
              'the runner reports a proxy but its worker contract is not (yet) ours and live on chain; message names the addresses',
              "wait for the runner's deploy (0.3 TON from the cocoon wallet); a mismatch means a wrong owner or code"),
    ReasonDoc(('Registered',), ('True',), (R.REGISTERED,),
              "a worker contract of the root's current params version is active, ours, state 0",
              'nothing; `status.workerContracts` lists them (older versions shown `Closing`/`Closed`)'),
    ReasonDoc(('WalletFunded',), ('True',), (R.WALLET_FUNDED, R.TOP_UP_CONFIRMED),
              'the cocoon wallet is at or above the floor (a top-up was confirmed on chain)',
              'nothing'),
    ReasonDoc(('WalletFunded',), ('False',), (R.TOP_UP_SENT, R.TOP_UP_PENDING),
              'a top-up from the treasury is on its way (its intent is in `status.funding.intent`)',
              'wait'),
    ReasonDoc(('WalletFunded',), ('False',), (R.TREASURY_INSUFFICIENT, R.TREASURY_NOT_DEPLOYED, R.INVALID_TREASURY_SECRET, R.NO_TREASURY),
              'the treasury cannot pay (Warning Event once), its Secret is unusable, or no treasury is configured and the wallet is below the floor',
              'refill/deploy the treasury or fix its Secret; recovers by itself'),
    ReasonDoc(('WalletFunded',), ('True',), (R.TOP_UP_SETTLING,),
              'a top-up left the treasury (on chain) and is on its way to the wallet; its amount counts toward the balance, nothing more is sent',
              'nothing'),
    ReasonDoc(('WalletFunded',), ('False',), (R.TOP_UP_UNRESOLVED, R.TOP_UP_TOO_SOON),
              'an open top-up cannot be decided yet (a scan that has not reached it) / the last top-up settled less than a minute ago: nothing new is sent',
              'wait'),
    ReasonDoc(('WalletFunded',), ('False',), (R.TREASURY_POLICY, R.INVALID_TREASURY_POLICY),
              "the treasury's spending policy (annotations on its Secret) does not allow this top-up (per top-up, per day, paused node, owner not allowed) / an annotation does not parse; the message says what was asked and what is allowed; nothing moves (Warning Event)",
              "ask the treasury's owner, or lower `spec.wallet.target` (docs/money.md §1)"),
    ReasonDoc(('WalletFunded', 'RewardsHealthy'), ('Unknown',), (R.CHAIN_DISAGREEMENT, R.MONEY_RECORD_CONFLICT),
              'two liteservers disagree on a fact money depends on, or another writer changed the money records: nothing was sent or triggered',
              'recovers by itself; a lasting disagreement means a liteserver of the config is out of sync or lying'),
    ReasonDoc(('WalletFunded',), ('False',), (R.WALLET_ADDRESS_MISMATCH,),
              'the worker runner reports a cocoon wallet address other than the one derived from the node key, owner and the official wallet code (both named); no top-up, no sweep; Warning Event, `cocoon_wallet_address_mismatch` = 1',
              "run the official runner with this CocoonNode's key and owner (docs/money.md §1)"),
    ReasonDoc(('WalletFunded',), ('False',), (R.PREFLIGHT_FAILED,),
              'the wallet is below the floor but the pre-flight fails (see `Configured`/`Registered`): nothing is funded',
              'fix what the pre-flight names'),
    ReasonDoc(('WalletFunded',), ('False',), (R.WAITING_FOR_PLACEMENT,),
              'the wallet is below the floor and the worker pod is not bound to a node (`Scheduled` is not True, e.g. no node fits or it waits for a GPU): treasury money only goes to a placed worker, or a paused one (kept ready for its resume); an open top-up intent is still followed up',
              'see `Scheduled`; funded once the pod is placed'),
    ReasonDoc(('WalletFunded', 'Registered', 'RewardsHealthy'), ('Unknown',), (R.CHAIN_UNAVAILABLE,),
              'no liteserver answered (bounded timeouts); nothing is triggered or sent; a running worker keeps running',
              'check the TON global config ConfigMap and the liteservers; recovers by itself'),
    ReasonDoc(('RewardsHealthy',), ('True',), (R.CLAIMS_HEALTHY, R.CLAIM_IN_FLIGHT),
              "claims go through; the message shows claimable and claimed TON and the policy's decision; a claim waits for the chain (evictions are held off: PDB 0)",
              'nothing'),
    ReasonDoc(('RewardsHealthy',), ('False',), (R.CLAIM_TIMED_OUT, R.CLAIM_PAYOUT_MISSING),
              'the last claim was not confirmed on chain in time / tokens moved but no payout reached the owner',
              'see the Event and docs/money.md §3'),
    ReasonDoc(('RewardsHealthy',), ('False',), (R.RUNNER_CLAIM_STUCK,),
              "the runner has reported the operator's claim as running for over 5 minutes and nothing reached the chain: its payout message was lost, and the runner clears a running claim only when it sees it on chain or restarts (cocoon-protocol.md §8.3); the claim is closed (counted as timed out) and the operator starts no new one while the runner says running; the proxy still pays out on its own from 10 TON",
              "restart the worker: `kubectl delete pod <name>-0` (TritonPod) or restart the VM (CocoonVM); claims resume at the next check"),
    ReasonDoc(('RewardsHealthy',), ('False',), (R.CLAIMS_STALLED,),
              'a claim-worthy amount (at least `minClaim`, and worth its gas under `maxFeeFraction`) has been claimable for longer than `spec.rewards.stallAfter` (unset: 1 h or three check intervals) with no payout; the message says what the claim policy decided (e.g. `WalletTooLowForClaim`, `FeeTooHigh`); a Warning Event when it starts; metric `cocoon_claims_stalled`',
              'fix what the policy names (fund the wallet, raise `maxFeeFraction`), or ask for a claim with `kubectl cocoon claim`; clears at the next payout'),
    ReasonDoc(('*',), ('Unknown',), (R.NOT_CHECKED,),
              'that step is not enabled in this operator, or waits for a valid spec',
              'nothing, or fix `Configured`'),
    ReasonDoc(('*',), ('Unknown',), (R.PROVIDER_ERROR,),
              'a health/chain/rewards check failed or timed out; the rest of the reconcile went on',
              'see the message and the operator log; retried'),
)
# fmt: on

HEADER = """# CocoonNode conditions and reasons

<!-- Generated from operator/cocoon_operator/conditions/ (python -m cocoon_operator.conditions --write);
     tests/unit/test_conditions.py fails when this file is stale. -->

Every CocoonNode carries all of these condition types from the first reconcile on (`Unknown` until
observed), each with `observedGeneration`. `lastTransitionTime` changes only when `status` changes.
`kubectl get cn` shows `Ready` and its reason; the reason of `Ready` is the reason of the first detail
condition that blocks it, so the column says what to fix. The types, the step that reports each, and
the reasons each may carry are one registry: `cocoon_operator/conditions/`.
"""

EVENTS = """## Events

Few and only on transitions: `PlacementFailed` (Warning), `WalletKeyGenerated` (Normal, never the key),
`WorkerRestarted` (Normal: a worker pod stuck Not Ready on an outdated StatefulSet revision was replaced),
`NameConflict` (Warning: a child's name is taken by an object the CocoonNode does not own; see above),
`WalletSecretNotOwned` (Warning: the wallet Secret is not this CocoonNode's; see above),
`ImageNotAllowed` (Warning: an image outside the admin's image policy; see above),
`FinalizeTimedOut` (Warning: chain work at deletion did not finish within
`COCOON_FINALIZE_TIMEOUT_SECONDS`, the finalizer was released anyway). Chain and rewards:
`PreflightFailed`, `ChainUnavailable`, `TreasuryInsufficient`/`TreasuryNotDeployed`/`InvalidTreasurySecret`
(Warning), `TopUpSent`, `WalletToppedUp`, `Registered`, `ClaimTriggered`, `RewardClaimed`, `ClaimSuperseded`,
`PayoutRecorded` (external payouts), `ClaimTimedOut`, `ClaimPayoutMissing`, `ClaimRejected`, `ClaimDropped`,
`PayoutScanGap`, `ClaimsStalled` (Warning); see docs/money.md §4. A claim asked for with `kubectl cocoon
claim`: `ClaimRequested`, `ClaimRequestDeclined` and `ClaimRequestFailed` (Warning).

Every Event names `cocoon-operator` as its source (`source.component`, `reportingComponent`; the
"From" column of `kubectl describe`) and the operator's pod as `reportingInstance`.
"""

_READY_RULE = {True: "must be True for `Ready`", False: "blocks `Ready` only when False"}


def render_markdown() -> str:
    """docs/conditions.md."""
    lines = [HEADER, "| type | reported by | Ready | True means |", "|---|---|---|---|"]
    for spec in REGISTRY:
        rule = "—" if spec.type is ConditionType.READY else _READY_RULE[spec.required_for_ready]
        lines.append(f"| `{spec.type}` | {spec.step} step | {rule} | {spec.true_means} |")
    lines += ["", "## Reasons and what to do", ""]
    lines += ["| condition | status | reason | meaning | what to do |", "|---|---|---|---|---|"]
    for row in ROWS:
        types = "any" if row.types == ("*",) else " / ".join(row.types)
        reasons = ", ".join(f"`{r}`" for r in row.reasons)
        lines.append(f"| {types} | {' / '.join(row.status)} | {reasons} | {row.meaning} | {row.action} |")
    return "\n".join(lines) + "\n\n" + EVENTS


def undocumented() -> list[tuple[str, str]]:
    """(type, reason) pairs a type may carry that no row documents (Ready's borrowed reasons aside)."""
    documented = {(t, r) for row in ROWS for t in row.types for r in row.reasons}
    missing = []
    for spec in REGISTRY:
        if spec.type is ConditionType.READY:
            continue
        for reason in sorted(spec.reasons):
            if (spec.type.value, reason) not in documented and ("*", reason) not in documented:
                missing.append((spec.type.value, reason.value))
    return missing


def misdocumented() -> list[tuple[str, str]]:
    """Rows naming a reason their type may not carry."""
    wrong = []
    for row in ROWS:
        for t in row.types:
            if t == "*":
                continue
            spec = BY_TYPE[ConditionType(t)]
            wrong += [(t, r.value) for r in row.reasons if r not in spec.reasons]
    return wrong

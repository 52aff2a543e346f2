{{/* Chart name, truncated to the 63-character label limit. */}}
{{- define "cocoon-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "cocoon-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cocoon-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "cocoon-operator.labels" -}}
helm.sh/chart: {{ include "cocoon-operator.chart" . }}
{{ include "cocoon-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cocoon-operator
{{- end }}

{{/* Labels that select the operator pod. */}}
{{- define "cocoon-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cocoon-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cocoon-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cocoon-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image of the worker pods' render-config init container, the only container that mounts the
     wallet key: renderImage, else the operator's own image (it has /bin/sh, cat and sed). */}}
{{- define "cocoon-operator.renderImage" -}}
{{- default (include "cocoon-operator.image" .) .Values.renderImage }}
{{- end }}

{{/* The operator image reference: digest wins over tag; the tag defaults to appVersion. */}}
{{- define "cocoon-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the pre-delete cleanup hook's objects. */}}
{{- define "cocoon-operator.cleanupName" -}}
{{- printf "%s-cleanup" (include "cocoon-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Restricted container security context (Pod Security Standards "restricted"). */}}
{{- define "cocoon-operator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "cocoon-operator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
fsGroup: {{ .Values.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The namespaces the operator serves, as a JSON list: watchNamespaces plus the older single
     watchNamespace; the release namespace when neither is set; [] with allNamespaces (every one). */}}
{{- define "cocoon-operator.namespaces" -}}
{{- if .Values.allNamespaces }}
{{- if or .Values.watchNamespaces .Values.watchNamespace }}
{{- fail "allNamespaces serves every namespace: leave watchNamespaces and watchNamespace empty" }}
{{- end }}
{{- toJson (list) }}
{{- else }}
{{- $ns := .Values.watchNamespaces }}
{{- if .Values.watchNamespace }}
{{- $ns = append $ns .Values.watchNamespace }}
{{- end }}
{{- if not $ns }}
{{- $ns = list .Release.Namespace }}
{{- end }}
{{- toJson (uniq $ns) }}
{{- end }}
{{- end }}

{{/* matchResources of an admission policy binding: the served namespaces (nothing = all). */}}
{{- define "cocoon-operator.servedNamespaces" -}}
{{- $namespaces := include "cocoon-operator.namespaces" . | fromJsonArray }}
{{- if $namespaces }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: In
      values: {{ toJson $namespaces }}
{{- end }}
{{- end }}

{{/* The operator's ServiceAccount as the API server names the user. */}}
{{- define "cocoon-operator.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "cocoon-operator.serviceAccountName" .) }}
{{- end }}

{{/* Arguments of `cocoon-operator`: the namespaces it serves, or all with allNamespaces. */}}
{{- define "cocoon-operator.args" -}}
- run
{{- if .Values.allNamespaces }}
- --all-namespaces
{{- else }}
{{- range (include "cocoon-operator.namespaces" . | fromJsonArray) }}
- --namespace={{ . }}
{{- end }}
{{- end }}
# one replica, no peering objects: kopf never looks for KopfPeering resources (no RBAC for them)
- --standalone
- --liveness=http://0.0.0.0:{{ .Values.liveness.port }}{{ .Values.liveness.path }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* Names of cluster-scoped objects carry the namespace too, so that two single-namespace installs
     with the same release name do not collide. */}}
{{- define "cocoon-operator.clusterName" -}}
{{- printf "%s-%s" (include "cocoon-operator.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* --- RBAC rule sets (kept here so the cluster-wide and single-namespace modes grant the same) --- */}}

{{/* The CocoonNode resource itself, and the Events the operator posts about it.
     Kept in step with docs/rbac-needs.md (the operator's own list of calls). */}}
{{- define "cocoon-operator.rules.cocoonnodes" -}}
# application: the custom resource. kopf needs patch even to watch (finalizer, progress and diff-base
# annotations); reconcile re-reads the object (get).
- apiGroups: ["cocoon.tonops.dev"]
  resources: ["cocoonnodes"]
  verbs: ["get", "list", "watch", "patch"]
# status is written with a merge patch on the status subresource, only when it changed.
- apiGroups: ["cocoon.tonops.dev"]
  resources: ["cocoonnodes/status"]
  verbs: ["get", "patch"]
# children carry ownerReferences with blockOwnerDeletion: true, which needs update on /finalizers
# where the OwnerReferencesPermissionEnforcement admission plugin is on.
- apiGroups: ["cocoon.tonops.dev"]
  resources: ["cocoonnodes/finalizers"]
  verbs: ["update"]
# framework: kopf posts Events (core/v1, POST only).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* Children of a CocoonNode, in the CocoonNode's namespace. Server-side apply is `patch` (plus
     `create` when the object does not exist yet). No delete (but of a stuck worker pod): children go
     by garbage collection through their ownerReferences. No update. */}}
{{- define "cocoon-operator.rules.children" -}}
# the worker StatefulSet; kopf also watches worker StatefulSets to re-reconcile their owner.
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# the runner ConfigMap (and spec.network.globalConfigRef, read), the headless Service. The operator
# watches its own children (label-selected) so an idle reconcile reads nothing and drift is seen at once.
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# only the operator may reach the runner's control port.
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "list", "watch", "create", "patch"]
# pods are created by the StatefulSet controller; the operator reads them (worker pod, kopf watch,
# GPU accounting for placement explanations) and deletes only a worker pod stuck Not Ready on an
# outdated StatefulSet revision (StatefulSets never replace it themselves, kubernetes#67250).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete"]
# Secrets: the worker wallet key is generated once (create) and read back (get); the treasury key
# named in a CocoonNode's spec is read (get). No list/watch (that would expose every Secret), no
# update/patch/delete: the operator never rotates or deletes a key (the wallet Secret has no owner
# reference on purpose, it must outlive the CocoonNode). RBAC cannot restrict `create`, or `get` of
# names only known at run time, by name; see docs/security.md.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create"]
# not an API resource: the permission the wallet-Secret admission policy asks for (authorizer check)
# before a Secret may carry the marks that bind a wallet key to a CocoonNode. The operator sets
# cocoon.tonops.dev/bound-uid on the wallet Secrets it creates; nobody else needs it but admins.
- apiGroups: ["cocoon.tonops.dev"]
  resources: ["walletsecrets"]
  verbs: ["adopt"]
{{- end }}

{{/* Cluster-scoped reads that neither mode can avoid. */}}
{{- define "cocoon-operator.rules.cluster" -}}
# placement: which nodes are confidential GPU nodes with free GPUs.
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch"]
# framework: kopf scans CRDs to notice the CocoonNode CRD (re)appearing.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- if not .Values.allNamespaces }}
# framework: with --namespace, kopf observes namespaces (cluster-scoped) to learn when the watched
# ones exist; without it kopf retries for ~40 s at start-up, then assumes they exist.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end }}

{{/* Extra labels on every alert (prometheusRule.alertLabels), one per line. */}}
{{- define "cocoon-operator.alertLabels" -}}
{{- range $k, $v := .alertLabels }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end }}

{{/* runbook_url of an alert when prometheusRule.runbookBaseURL is set: <base>#<alert, lower case>. */}}
{{- define "cocoon-operator.runbook" -}}
{{- $r := index . 0 }}
{{- if $r.runbookBaseURL }}
runbook_url: {{ printf "%s#%s" $r.runbookBaseURL (lower (index . 1)) | quote }}
{{- end }}
{{- end }}

{{/* A worker image the image policy admits, for the `helm test` dry run ("-" when it admits none). */}}
{{- define "cocoon-operator.helmTestWorkerImage" -}}
{{- $w := .Values.imagePolicy.worker -}}
{{- if not .Values.imagePolicy.enabled -}}
registry.example/cocoon/worker-runner:1.0
{{- else if $w.digests -}}
registry.example/cocoon/worker-runner@{{ first $w.digests }}
{{- else if $w.repositoryPrefixes -}}
{{- $p := first $w.repositoryPrefixes -}}
{{- if hasSuffix "@" $p -}}{{ $p }}sha256:{{ repeat 64 "0" }}
{{- else if hasSuffix ":" $p -}}{{ $p }}1.0
{{- else if hasSuffix "/" $p -}}{{ $p }}worker-runner:1.0
{{- else -}}{{ $p }}
{{- end -}}
{{- else -}}
-
{{- end -}}
{{- end }}

/**
 * CustomResourceDefinitions generated from the one schema (schema.ts). Pure.
 *
 * The file source validates with schema.ts directly; the cluster validates with
 * the CRDs below, derived mechanically so both accept and reject the same
 * values. The derivation only changes what a structural schema cannot say:
 *
 * - `additionalProperties: false` is dropped: the apiserver prunes unknown
 *   fields instead (and `kubectl apply` warns about them);
 * - metadata, apiVersion and kind are left to the apiserver;
 * - `x-kubernetes-int-or-string` keeps its required `anyOf: [{type: integer},
 *   {type: string}]` shape; the branches' value checks (minimum, pattern, ...)
 *   move onto the field itself, where they apply to the matching type only.
 *
 * `scripts/gen-crds.mjs` writes crds/*.yaml from crdFor(); a unit test fails
 * when the committed files differ from what it would write.
 */
import yaml from 'js-yaml';
import { backendSpecSchema, frontendSpecSchema, statusSchema, type JsonSchema } from './schema.js';
import { API_GROUP, API_VERSION_NAME, type Kind } from './types.js';

export interface CrdNames {
  kind: Kind;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
}

export const CRD_CATEGORY = 'haproxy';

export const CRD_NAMES: Record<Kind, CrdNames> = {
  Frontend: {
    kind: 'Frontend',
    listKind: 'FrontendList',
    plural: 'frontends',
    singular: 'frontend',
    shortNames: ['hafe'],
    categories: [CRD_CATEGORY],
  },
  Backend: {
    kind: 'Backend',
    listKind: 'BackendList',
    plural: 'backends',
    singular: 'backend',
    shortNames: ['habe'],
    categories: [CRD_CATEGORY],
  },
};

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

const programmed = (field: 'status' | 'reason'): string => `.status.conditions[?(@.type=="Programmed")].${field}`;

const COLUMNS: Record<Kind, PrinterColumn[]> = {
  Frontend: [
    { name: 'Ready', type: 'string', jsonPath: programmed('status'), description: 'HAProxy serves the current generation.' },
    { name: 'Reason', type: 'string', jsonPath: programmed('reason'), description: 'Why it is or is not ready.' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
  ],
  Backend: [
    { name: 'Ready', type: 'string', jsonPath: programmed('status'), description: 'HAProxy serves the current generation.' },
    { name: 'Members', type: 'integer', jsonPath: '.status.members.ready', description: 'Members in rotation.' },
    { name: 'Total', type: 'integer', jsonPath: '.status.members.total', description: 'Members known (ready, draining or out of rotation).' },
    { name: 'Reason', type: 'string', jsonPath: programmed('reason'), description: 'Why it is or is not ready.', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
  ],
};

const VALUE_CHECKS = ['minimum', 'maximum', 'pattern', 'minLength', 'maxLength', 'enum'] as const;

/** One schema node made structural (see the file comment). */
export function structural(s: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(s) as [keyof JsonSchema, unknown][]) {
    switch (k) {
      case 'additionalProperties':
        if (v !== false && v !== true) out.additionalProperties = structural(v as JsonSchema);
        break;
      case 'properties':
        out.properties = Object.fromEntries(Object.entries(v as Record<string, JsonSchema>).map(([name, p]) => [name, structural(p)]));
        break;
      case 'items':
        out.items = structural(v as JsonSchema);
        break;
      case 'anyOf':
        if (s['x-kubernetes-int-or-string']) {
          const branches = v as JsonSchema[];
          out.anyOf = branches.map((b) => ({ type: b.type }));
          for (const b of branches) {
            for (const check of VALUE_CHECKS) {
              if (b[check] === undefined) continue;
              if (out[check] !== undefined || s[check] !== undefined) throw new Error(`int-or-string: ${check} set twice; cannot hoist it`);
              (out as Record<string, unknown>)[check] = b[check];
            }
          }
        } else {
          out.anyOf = (v as JsonSchema[]).map(structural);
        }
        break;
      default:
        (out as Record<string, unknown>)[k] = structuredClone(v);
    }
  }
  return out;
}

/** The openAPIV3Schema of one kind. */
export function crdSchema(kind: Kind): JsonSchema {
  const spec = kind === 'Frontend' ? frontendSpecSchema : backendSpecSchema;
  return {
    type: 'object',
    description: `${kind} of node-haproxy (${kind === 'Frontend' ? 'listening sockets and routing rules' : 'a pool of members'}). See docs/kubernetes.md.`,
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion: haproxy.node-haproxy.io/v1alpha1.' },
      kind: { type: 'string', description: `Kind: ${kind}.` },
      metadata: { type: 'object' },
      spec: structural(spec),
      status: structural({ ...statusSchema, description: 'Written by the controller: conditions Accepted and Programmed, observedGeneration, member counts.' }),
    },
    required: ['spec'],
  };
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    scope: 'Namespaced';
    names: CrdNames;
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JsonSchema };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
    }>;
  };
}

export function crdFor(kind: Kind): CustomResourceDefinition {
  const names = CRD_NAMES[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${names.plural}.${API_GROUP}`,
      labels: { 'app.kubernetes.io/name': 'node-haproxy', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: API_GROUP,
      scope: 'Namespaced',
      names: structuredClone(names),
      versions: [
        {
          name: API_VERSION_NAME,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: crdSchema(kind) },
          subresources: { status: {} },
          additionalPrinterColumns: structuredClone(COLUMNS[kind]),
        },
      ],
    },
  };
}

/** crds/<file name> for each kind, in a stable order. */
export const CRD_FILES: ReadonlyArray<{ kind: Kind; file: string }> = [
  { kind: 'Backend', file: `${API_GROUP}_backends.yaml` },
  { kind: 'Frontend', file: `${API_GROUP}_frontends.yaml` },
];

export const CRD_HEADER = '# Generated from src/model/schema.ts by scripts/gen-crds.mjs. Do not edit: run `npm run build && node scripts/gen-crds.mjs`.\n';

/** The YAML text of crds/<file> for `kind`, exactly as committed. */
export function crdYaml(kind: Kind): string {
  return CRD_HEADER + yaml.dump(crdFor(kind), { lineWidth: -1, noRefs: true, quotingType: '"' });
}

interface ImportMetaEnv {
  readonly VITE_PROXY_URL?: string
  readonly VITE_IDENTITY_URL?: string
  readonly VITE_STORAGE_URL?: string
}
interface ImportMeta {
  readonly env: ImportMetaEnv
}

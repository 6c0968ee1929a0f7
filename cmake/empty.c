/* placeholder for a component with no sources yet */
typedef int ls_empty_translation_unit;

